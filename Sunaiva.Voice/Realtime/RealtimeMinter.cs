using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.Voice.Catalog;
using Sunaiva.Voice.Entitlements;

namespace Sunaiva.Voice.Realtime;

/// <summary>What a session asks cloud realtime for. Null fields take the configured defaults.</summary>
/// <param name="SessionId">The caller's session id (POST /voice/sessions); a new one is made when null. One key per id.</param>
public sealed record RealtimeSessionSpec(string VoiceId, string? Instructions = null, string? TurnDetection = null, string? SessionId = null);

/// <summary>
/// Mints OpenAI Realtime client secrets within the user's daily minutes: reserve what the key may use (at most the
/// minutes left, at most <c>Voice:OpenAI:MaxSessionMinutes</c>), mint through the <c>realtime</c> provider chain
/// outside any transaction, give the reservation back when the mint fails. Never throws for a provider failure: the
/// result says what to offer instead.
/// </summary>
public sealed partial class RealtimeMinter(
    ProviderChain<IRealtimeAdapter> chain,
    RealtimeUsageLedger ledger,
    EntitlementStore entitlements,
    VoiceCatalog catalog,
    IOptions<RealtimeOptions> options,
    ILogger<RealtimeMinter> logger)
{
    public const string Capability = "realtime";

    /// <summary>Less than this left today is not worth a session.</summary>
    private const int MinimumSeconds = 30;

    private static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(30);

    public bool Configured => options.Value.Configured;

    public async Task<RealtimeMintResult> MintAsync(string userId, RealtimeSessionSpec spec, CancellationToken ct)
    {
        var settings = options.Value;
        if (!settings.Configured)
        {
            return new RealtimeMintResult.NotConfigured();
        }

        if (catalog.Find(spec.VoiceId) is not { } voice)
        {
            return new RealtimeMintResult.UnknownVoice(spec.VoiceId);
        }

        var entitlement = await entitlements.GetAsync(userId, ct);
        var limitSeconds = entitlement.RealtimeMinutesPerDay * 60;
        var sessionId = spec.SessionId ?? $"rt_{Guid.NewGuid():N}";
        var reserved = await ledger.ReserveAsync(sessionId, userId, limitSeconds, settings.MaxSessionMinutes * 60, MinimumSeconds, voice.Id, settings.Model, ct);
        if (reserved is not { } reservation)
        {
            LogLimitReached(logger, entitlement.Plan ?? "free", entitlement.RealtimeMinutesPerDay);
            var allowance = await ledger.AllowanceAsync(userId, limitSeconds, ct);
            return new RealtimeMintResult.LimitReached(entitlement.RealtimeMinutesPerDay, allowance.UsedSeconds, ledger.ResetsAt, ledger.UntilReset, entitlement.Plan);
        }

        var turnDetection = spec.TurnDetection is "server_vad" or "semantic_vad" ? spec.TurnDetection : settings.TurnDetection;
        var request = new RealtimeSecretRequest(settings.Model, voice.OpenAi, spec.Instructions ?? settings.Instructions, turnDetection, settings.ClientSecretSeconds);
        try
        {
            using var _ = MeteringContext.ForUser(userId);
            var minted = await chain.ExecuteAsync(
                new ProviderOperation("client-secret", Unit: "sessions", Idempotent: true),
                async (adapter, call, token) =>
                {
                    var secret = await adapter.CreateClientSecretAsync(request, token);
                    call.Units = 1;
                    return (Secret: secret, adapter.Provider);
                },
                ct);
            var (secret, provider) = minted.Value;
            return new RealtimeMintResult.Granted(new RealtimeGrant(
                sessionId, provider, secret.Value, secret.ExpiresAt, secret.Model, voice.OpenAi, voice.Id, turnDetection, settings.CallsUrl,
                reservation.Seconds, reservation.Before.RemainingSeconds - reservation.Seconds));
        }
        catch (Exception exception) when (exception is ProviderChainException or PermanentFailureException)
        {
            // The key was not minted: the minutes go back (CancellationToken.None: the reservation must not outlive a canceled request).
            await ledger.ReleaseAsync(sessionId, CancellationToken.None);
            var retryAfter = exception is ProviderChainException { RetryAfter: { } after } ? after : DefaultRetryAfter;
            var reason = exception is PermanentFailureException ? "refused" : exception is ProviderChainException { Unavailable: true } ? "unavailable" : "failed";
            LogMintFailed(logger, reason, (int)retryAfter.TotalSeconds);
            return new RealtimeMintResult.Unavailable(retryAfter, reason);
        }
        catch (OperationCanceledException)
        {
            await ledger.ReleaseAsync(sessionId, CancellationToken.None);
            throw;
        }
    }

    /// <summary>Counts a session's real length against the day (session end or client report); null when it is not the user's.</summary>
    public Task<RealtimeUsageReport?> ReportUsageAsync(string userId, string sessionId, int seconds, CancellationToken ct) =>
        ledger.ReportAsync(sessionId, userId, Math.Max(seconds, 0), ct);

    [LoggerMessage(Level = LogLevel.Information, Message = "Cloud realtime refused: the daily limit of plan {Plan} ({Minutes} min) is spent")]
    private static partial void LogLimitReached(ILogger logger, string plan, int minutes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cloud realtime key not minted ({Reason}); the local pipeline is offered, retry after {RetryAfterSeconds} s")]
    private static partial void LogMintFailed(ILogger logger, string reason, int retryAfterSeconds);
}
