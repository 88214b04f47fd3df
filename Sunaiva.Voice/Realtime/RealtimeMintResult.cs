namespace Sunaiva.Voice.Realtime;

/// <summary>What the client needs to join an OpenAI Realtime session over WebRTC (the server's key is never in it).</summary>
/// <param name="SessionId">Ours: report the session's length to <c>POST /voice/sessions/{id}/usage</c>.</param>
/// <param name="ClientSecret">The ephemeral key (ek_...): the bearer of the SDP offer posted to <paramref name="WebRtcUrl"/>.</param>
/// <param name="ExpiresAt">After this the secret starts no session (a started session goes on).</param>
/// <param name="MaxSessionSeconds">What the key grants today: the client ends the call by then.</param>
/// <param name="RemainingSecondsToday">What is left today after this grant.</param>
public sealed record RealtimeGrant(
    string SessionId,
    string Provider,
    string ClientSecret,
    DateTimeOffset ExpiresAt,
    string Model,
    string Voice,
    string VoiceId,
    string TurnDetection,
    Uri WebRtcUrl,
    int MaxSessionSeconds,
    int RemainingSecondsToday);

/// <summary>The answer of <see cref="RealtimeMinter.MintAsync"/>: a grant, or why not and what to offer instead.</summary>
public abstract record RealtimeMintResult
{
    /// <summary>The modes a session can take when cloud realtime is not granted.</summary>
    public static IReadOnlyList<string> FallbackModes { get; } = ["local", "text"];

    public sealed record Granted(RealtimeGrant Grant) : RealtimeMintResult;

    /// <summary>No OpenAI key configured: the local pipeline is the voice mode here.</summary>
    public sealed record NotConfigured : RealtimeMintResult;

    /// <summary>Today's minutes are spent; they come back at <paramref name="ResetsAt"/>.</summary>
    public sealed record LimitReached(int LimitMinutes, int UsedSeconds, DateTimeOffset ResetsAt, TimeSpan RetryAfter, string? Plan) : RealtimeMintResult;

    /// <summary>OpenAI could not mint a key now (down, throttled, circuit open, refused).</summary>
    public sealed record Unavailable(TimeSpan RetryAfter, string Reason) : RealtimeMintResult;

    /// <summary>The voice is not in the catalog.</summary>
    public sealed record UnknownVoice(string VoiceId) : RealtimeMintResult;
}
