using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Voice.Realtime;

/// <summary>OpenAI Realtime (section <c>Voice:OpenAI</c>). Without <see cref="ApiKey"/> cloud realtime is off and sessions use the local pipeline.</summary>
public sealed class RealtimeOptions : IValidatableObject
{
    public const string SectionName = "Voice:OpenAI";

    /// <summary>The server's OpenAI key (AppHost secret parameter <c>openai-api-key</c>); never sent to clients.</summary>
    public string? ApiKey { get; set; }

    /// <summary>REST base, ending in /v1.</summary>
    [Required(ErrorMessage = "Voice:OpenAI:BaseUrl is not configured.")]
    public Uri BaseUrl { get; set; } = new("https://api.openai.com/v1/");

    [Required(ErrorMessage = "Voice:OpenAI:Model is not configured.")]
    public string Model { get; set; } = "gpt-realtime";

    /// <summary><c>semantic_vad</c> (the model judges when the user has finished) or <c>server_vad</c> (silence based).</summary>
    [RegularExpression("^(semantic_vad|server_vad)$", ErrorMessage = "Voice:OpenAI:TurnDetection must be semantic_vad or server_vad.")]
    public string TurnDetection { get; set; } = "semantic_vad";

    [Required(ErrorMessage = "Voice:OpenAI:Instructions is not configured.")]
    public string Instructions { get; set; } = "You are Sunaiva, a warm and attentive companion. Speak naturally and briefly, in the user's language.";

    /// <summary>How long the client has to start a session with the secret (OpenAI accepts 10..7200 s).</summary>
    [Range(10, 7200, ErrorMessage = "Voice:OpenAI:ClientSecretSeconds must be between 10 and 7200.")]
    public int ClientSecretSeconds { get; set; } = 120;

    /// <summary>The longest session one key is granted for (OpenAI ends a realtime session after 60 minutes).</summary>
    [Range(1, 60, ErrorMessage = "Voice:OpenAI:MaxSessionMinutes must be between 1 and 60.")]
    public int MaxSessionMinutes { get; set; } = 30;

    /// <summary>Where the browser posts its SDP offer (with the client secret as bearer) to start a WebRTC call.</summary>
    public Uri? WebRtcUrl { get; set; }

    public bool Configured => !string.IsNullOrWhiteSpace(ApiKey);

    public Uri CallsUrl => WebRtcUrl ?? new Uri(BaseUrl, "realtime/calls");

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!BaseUrl.AbsoluteUri.EndsWith('/'))
        {
            BaseUrl = new Uri(BaseUrl.AbsoluteUri + "/");
        }

        return [];
    }
}
