using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Media.Videos;

/// <summary>Onboarding videos (section <c>Videos</c>).</summary>
public sealed class VideoOptions
{
    public const string SectionName = "Videos";

    [Required(ErrorMessage = "Videos:FfmpegPath is not configured.")]
    public string FfmpegPath { get; set; } = "ffmpeg";

    [Required(ErrorMessage = "Videos:EspeakPath is not configured.")]
    public string EspeakPath { get; set; } = "espeak-ng";

    /// <summary>Niceness of the ffmpeg encoder (0 to 19): renders yield the CPU to requests.</summary>
    [Range(0, 19, ErrorMessage = "Videos:Nice must be between 0 and 19.")]
    public int Nice { get; set; } = 10;

    /// <summary>One encode may take this long before ffmpeg is killed and the attempt fails.</summary>
    [Range(typeof(TimeSpan), "00:00:05", "00:30:00", ErrorMessage = "Videos:RenderTimeout must be between 5 s and 30 min.")]
    public TimeSpan RenderTimeout { get; set; } = TimeSpan.FromMinutes(2);

    [Range(1, 60, ErrorMessage = "Videos:FramesPerSecond must be between 1 and 60.")]
    public int FramesPerSecond { get; set; } = 12;

    /// <summary>x264 preset and quality (stillimage tuning: the frames are mostly static slides).</summary>
    [Required(ErrorMessage = "Videos:Preset is not configured.")]
    public string Preset { get; set; } = "veryfast";

    [Range(0, 51, ErrorMessage = "Videos:Crf must be between 0 and 51.")]
    public int Crf { get; set; } = 26;

    /// <summary>The promise: all three videos watchable this long after signup.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "01:00:00", ErrorMessage = "Videos:Promise must be between 10 s and 1 h.")]
    public TimeSpan Promise { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long an AI provider may take before the local render is served instead (the local render needs the rest of the promise).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Videos:ProviderDeadline must be between 1 s and 1 h.")]
    public TimeSpan ProviderDeadline { get; set; } = TimeSpan.FromSeconds(75);

    /// <summary>Polling of a provider's job, as a backup to its webhook.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00", ErrorMessage = "Videos:ProviderPollInterval must be between 1 s and 10 min.")]
    public TimeSpan ProviderPollInterval { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>A provider job not finished after this long is given up (the local video stays).</summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00", ErrorMessage = "Videos:ProviderGiveUpAfter must be between 1 min and 7 days.")]
    public TimeSpan ProviderGiveUpAfter { get; set; } = TimeSpan.FromHours(2);

    /// <summary>Presigned links to the MP4, poster and captions live this long.</summary>
    [Range(typeof(TimeSpan), "00:00:30", "1.00:00:00", ErrorMessage = "Videos:LinkLifetime must be between 30 s and 1 day.")]
    public TimeSpan LinkLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// A video that waited this long in the queue is rendered fast (<see cref="HurryFramesPerSecond"/> and the
    /// ultrafast preset): under load the promise is kept by degrading smoothness, never by failing.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00", ErrorMessage = "Videos:HurryAfter must be between 0 and 1 h.")]
    public TimeSpan HurryAfter { get; set; } = TimeSpan.FromSeconds(40);

    /// <summary>
    /// Local renders running at once in one replica (default: one per core). More would only share the cores and make
    /// every video late; the rest wait their turn (queue wait), and one that waited past <see cref="HurryAfter"/> is hurried.
    /// </summary>
    [Range(1, 64, ErrorMessage = "Videos:MaxConcurrentRenders must be between 1 and 64.")]
    public int MaxConcurrentRenders { get; set; } = Math.Max(1, Environment.ProcessorCount);

    [Range(1, 60, ErrorMessage = "Videos:HurryFramesPerSecond must be between 1 and 60.")]
    public int HurryFramesPerSecond { get; set; } = 6;

    /// <summary>The same settings for a render in a hurry.</summary>
    public VideoOptions Hurried()
    {
        var copy = (VideoOptions)MemberwiseClone();
        copy.FramesPerSecond = HurryFramesPerSecond;
        copy.Preset = "ultrafast";
        return copy;
    }

    [Required(ErrorMessage = "Videos:DefaultStyle is not configured.")]
    public string DefaultStyle { get; set; } = VideoStyle.DefaultId;

    [Required(ErrorMessage = "Videos:DefaultVoice is not configured.")]
    public string DefaultVoice { get; set; } = "en-US-female-1";

    /// <summary>Narration through Voice's POST /tts first (when the AppHost wires Voice); espeak-ng in Media otherwise.</summary>
    public bool VoiceTtsEnabled { get; set; } = true;

    /// <summary>The Voice service as service discovery names it.</summary>
    [Required(ErrorMessage = "Videos:VoiceBaseUrl is not configured.")]
    public string VoiceBaseUrl { get; set; } = "https+http://voice";

    /// <summary>Where the app shows a video (the link Engagement mails); {id} is replaced.</summary>
    [Required(ErrorMessage = "Videos:WatchUrl is not configured.")]
    public string WatchUrl { get; set; } = "https://app.sunaiva.ai/videos/{id}";
}
