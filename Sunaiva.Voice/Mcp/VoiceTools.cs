using System.ComponentModel;
using ModelContextProtocol.Server;
using Sunaiva.ServiceDefaults.Mcp;
using Sunaiva.Voice.Catalog;
using Sunaiva.Voice.Tts;

namespace Sunaiva.Voice.Mcp;

/// <summary>A catalog voice as an agent sees it.</summary>
public sealed record VoiceSummary(string Id, string DisplayName, string Gender, string Language, string Region);

/// <summary>Spoken audio an agent can hand to a client: a WAV at <c>Url</c> until <c>ExpiresAt</c>.</summary>
public sealed record SpokenClip(string VoiceId, string Url, DateTimeOffset ExpiresAt);

/// <summary>
/// Voice's MCP tools, called for the bearer token's user: the catalog by region, and <c>speak</c>, which synthesizes text
/// through the <c>tts</c> chain and its cache and answers a short-lived URL of the clip (the id is the capability).
/// </summary>
[McpServerToolType]
public sealed class VoiceTools(McpCaller caller, VoiceCatalog catalog, TtsService tts, IHttpContextAccessor http)
{
    [McpServerTool(Name = "list_voices", ReadOnly = true), Description("The voices of a region (e.g. en-GB): 3 female and 3 male, with their ids for speak.")]
    public IReadOnlyList<VoiceSummary> ListVoices(
        [Description("Region, e.g. en-US, en-GB, es-MX, hi-IN; omitted lists every region's voices")] string? region = null)
    {
        _ = caller.UserId;
        var voices = region is null
            ? catalog.All
            : catalog.InRegion(region.Trim()) ?? throw new McpToolException($"No region {region}; regions: {string.Join(", ", catalog.Regions)}.");
        return voices.Select(v => new VoiceSummary(v.Id, v.DisplayName, v.Gender, v.Language, v.Region)).ToList();
    }

    [McpServerTool(Name = "speak"), Description("Speak text in a catalog voice; returns a short-lived URL of a WAV (16 kHz mono).")]
    public async Task<SpokenClip> SpeakAsync(
        [Description("The text to speak, 1-2000 characters")] string text,
        [Description("A voice id from list_voices, e.g. en-GB-female-1")] string voiceId,
        CancellationToken cancellationToken = default)
    {
        _ = caller.UserId;
        if (string.IsNullOrWhiteSpace(text) || text.Length > TtsApi.MaxTextLength)
        {
            throw new McpToolException($"text must have 1 to {TtsApi.MaxTextLength} characters.");
        }

        var voice = catalog.Find(voiceId) ?? throw new McpToolException($"No voice {voiceId}; list_voices lists them.");
        var (id, expiresAt) = await tts.CreateClipAsync(voice, text.Trim(), cancellationToken);
        var request = http.HttpContext?.Request;
        var path = $"/tts/clips/{id}";
        var url = request is null ? path : $"{request.Scheme}://{request.Host}{request.PathBase}{path}";
        return new SpokenClip(voice.Id, url, expiresAt);
    }
}
