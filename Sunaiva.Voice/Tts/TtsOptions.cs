using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Voice.Tts;

/// <summary>Synthesized-audio cache and warm-up (section <c>Voice:Tts</c>).</summary>
public sealed class TtsOptions
{
    public const string SectionName = "Voice:Tts";

    /// <summary>With object storage configured, clips up to this size are cached in HybridCache and larger ones in storage.</summary>
    [Range(1024, 16 * 1024 * 1024, ErrorMessage = "Voice:Tts:StorageThresholdBytes must be between 1 KiB and 16 MiB.")]
    public int StorageThresholdBytes { get; set; } = 256 * 1024;

    /// <summary>Without object storage, the largest clip cached in HybridCache (memory, then Redis); longer ones are synthesized each time.</summary>
    [Range(1024, 16 * 1024 * 1024, ErrorMessage = "Voice:Tts:MaxCachedBytes must be between 1 KiB and 16 MiB.")]
    public int MaxCachedBytes { get; set; } = 1024 * 1024;

    /// <summary>The largest clip kept in object storage (2000 characters are about 4 MB of 16 kHz PCM).</summary>
    [Range(1024, 256 * 1024 * 1024, ErrorMessage = "Voice:Tts:MaxStoredBytes must be between 1 KiB and 256 MiB.")]
    public int MaxStoredBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>How long a clip made by a fallback adapter (espeak while a cloud voice is configured) is kept: long enough to spare a provider that is down, short enough that the cloud voice returns soon after it does.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00", ErrorMessage = "Voice:Tts:DegradedCacheExpiration must be between 0 and 1 day.")]
    public TimeSpan DegradedCacheExpiration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Bucket of the large clips (objects under <c>tts/</c>) in the AppHost's object storage.</summary>
    [Required(ErrorMessage = "Voice:Tts:StorageBucket is not configured.")]
    [RegularExpression("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", ErrorMessage = "Voice:Tts:StorageBucket must be a valid S3 bucket name.")]
    public string StorageBucket { get; set; } = "sunaiva-voice";

    /// <summary>The most one object-storage call may take before the clip is served without it (storage never holds up speech).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00", ErrorMessage = "Voice:Tts:StorageTimeout must be between 50 ms and 1 minute.")]
    public TimeSpan StorageTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary><c>GET /tts/clips/{id}</c> of a clip in object storage answers 302 to a presigned URL instead of streaming it through the service.</summary>
    public bool PresignStoredClips { get; set; }

    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan CacheExpiration { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a clip URL handed out for the MCP <c>speak</c> tool stays valid.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan ClipUrlLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Synthesize <see cref="WarmPhrases"/> for every voice of <see cref="WarmLanguages"/> at start.</summary>
    public bool WarmAtStart { get; set; } = true;

    /// <summary>
    /// Characters the warm-up may send to a paid (cloud) adapter per start; phrases already cached cost nothing and do
    /// not count. Past it the warm-up stops (the phrases are then cached on first use).
    /// </summary>
    [Range(0, 1_000_000, ErrorMessage = "Voice:Tts:WarmCloudCharacters must be between 0 and 1000000.")]
    public int WarmCloudCharacters { get; set; } = 5000;

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
