using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sunaiva.Voice.Catalog;

/// <summary>How one catalog voice is rendered by the local espeak-ng adapter.</summary>
public sealed record LocalVoice(string Voice, string Variant, int Pitch, int Rate);

/// <summary>One voice of the catalog and its mapping to every TTS adapter.</summary>
public sealed record VoiceEntry(
    string Id,
    string DisplayName,
    string Gender,
    string Language,
    string Region,
    [property: JsonPropertyName("openai")] string OpenAi,
    string ElevenLabs,
    LocalVoice Local);

/// <summary>The voice catalog as read from <c>Catalog/voices.json</c> (embedded); validated at start by <see cref="VoiceCatalogValidator"/>.</summary>
public sealed class VoiceCatalogOptions
{
    public const string Resource = "catalog/voices.json";

    /// <summary>The sentence each language's sample speaks, by language.</summary>
    public Dictionary<string, string> Samples { get; set; } = [];

    public List<VoiceEntry> Voices { get; set; } = [];

    internal static VoiceCatalogOptions LoadEmbedded()
    {
        using var stream = typeof(VoiceCatalogOptions).Assembly.GetManifestResourceStream(Resource)
            ?? throw new InvalidOperationException($"Embedded resource {Resource} is missing from Sunaiva.Voice.");
        return JsonSerializer.Deserialize<VoiceCatalogOptions>(stream, JsonSerializerOptions.Web)
            ?? throw new InvalidOperationException($"{Resource} is empty.");
    }
}
