using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Voice.Tts;

/// <summary>OpenAI speech (section <c>Voice:Tts:OpenAI</c>). Without <see cref="ApiKey"/> the adapter is skipped, not failed.</summary>
public sealed class OpenAITtsOptions : IValidatableObject
{
    public const string SectionName = "Voice:Tts:OpenAI";

    /// <summary>The server's OpenAI key (AppHost secret parameter <c>openai-api-key</c>); never logged or sent to clients.</summary>
    public string? ApiKey { get; set; }

    /// <summary>REST base, ending in /v1/.</summary>
    [Required(ErrorMessage = "Voice:Tts:OpenAI:BaseUrl is not configured.")]
    public Uri BaseUrl { get; set; } = new("https://api.openai.com/v1/");

    /// <summary>
    /// gpt-4o-mini-tts: the only speech model that knows every voice of the catalog (ballad, verse, marin and cedar are
    /// not served by tts-1).
    /// </summary>
    [Required(ErrorMessage = "Voice:Tts:OpenAI:Model is not configured.")]
    public string Model { get; set; } = "gpt-4o-mini-tts";

    public bool Configured => !string.IsNullOrWhiteSpace(ApiKey);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!BaseUrl.AbsoluteUri.EndsWith('/'))
        {
            BaseUrl = new Uri(BaseUrl.AbsoluteUri + "/");
        }

        return [];
    }
}

/// <summary>ElevenLabs streaming speech (section <c>Voice:Tts:ElevenLabs</c>). Without <see cref="ApiKey"/> the adapter is skipped.</summary>
public sealed class ElevenLabsTtsOptions : IValidatableObject
{
    public const string SectionName = "Voice:Tts:ElevenLabs";

    /// <summary>Sent as <c>xi-api-key</c> (AppHost secret parameter <c>elevenlabs-api-key</c>).</summary>
    public string? ApiKey { get; set; }

    [Required(ErrorMessage = "Voice:Tts:ElevenLabs:BaseUrl is not configured.")]
    public Uri BaseUrl { get; set; } = new("https://api.elevenlabs.io/v1/");

    /// <summary>Flash v2.5: ElevenLabs' low-latency multilingual model (~75 ms to first audio by their account).</summary>
    [Required(ErrorMessage = "Voice:Tts:ElevenLabs:ModelId is not configured.")]
    public string ModelId { get; set; } = "eleven_flash_v2_5";

    /// <summary>Raw PCM16 mono at the named rate; pcm_16000 is the pipeline's own format (no resampling).</summary>
    [RegularExpression("^pcm_(8000|16000|22050|24000|44100)$", ErrorMessage = "Voice:Tts:ElevenLabs:OutputFormat must be pcm_8000, pcm_16000, pcm_22050, pcm_24000 or pcm_44100.")]
    public string OutputFormat { get; set; } = "pcm_16000";

    public bool Configured => !string.IsNullOrWhiteSpace(ApiKey);

    public int SampleRate => int.Parse(OutputFormat.AsSpan(4), System.Globalization.CultureInfo.InvariantCulture);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!BaseUrl.AbsoluteUri.EndsWith('/'))
        {
            BaseUrl = new Uri(BaseUrl.AbsoluteUri + "/");
        }

        return [];
    }
}
