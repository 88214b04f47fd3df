using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Voice.Tts;

/// <summary>Synthesized-audio cache and warm-up (section <c>Voice:Tts</c>).</summary>
public sealed class TtsOptions
{
    public const string SectionName = "Voice:Tts";

    /// <summary>Clips up to this size are cached (HybridCache: memory, then Redis); longer ones are synthesized each time.</summary>
    [Range(1024, 16 * 1024 * 1024)]
    public int MaxCachedBytes { get; set; } = 1024 * 1024;

    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan CacheExpiration { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a clip URL handed out for the MCP <c>speak</c> tool stays valid.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan ClipUrlLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Synthesize <see cref="WarmPhrases"/> for every voice of <see cref="WarmLanguages"/> at start.</summary>
    public bool WarmAtStart { get; set; } = true;

    /// <summary>Languages whose voices are warmed (the local responder answers in English).</summary>
    public List<string> WarmLanguages { get; set; } = ["en"];

    /// <summary>Greetings, fillers and error phrases the pipeline says often.</summary>
    public List<string> WarmPhrases { get; set; } =
    [
        "Hello! How can I help you today?",
        "Hmm, let me think.",
        "Sorry, I didn't catch that.",
        "Sorry, something went wrong on my side. Let's continue in text.",
    ];
}
