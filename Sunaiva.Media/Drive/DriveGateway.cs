using Google.Apis.Auth.OAuth2.Responses;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Drive;

/// <summary>
/// Every Drive and OAuth call goes through the <c>drive</c> provider chain (breaker, metering per call). For a user's calls it
/// keeps the access token fresh (refreshed before expiry, and once on a 401), marks the connection for re-consent when the
/// grant is gone, and turns Drive's per-user rate limits into a <see cref="RetryLaterException"/> with exponential back-off
/// and jitter that honours Retry-After: only that user's work waits, and no attempt is spent.
/// </summary>
public sealed partial class DriveGateway(
    ProviderChain<IDriveProvider> chain,
    DriveConnectionStore connections,
    IOptions<DriveOptions> options,
    TimeProvider time,
    ILogger<DriveGateway> logger)
{
    public const string Capability = "drive";

    private static readonly ProviderOperation Token = new("token", Idempotent: false);
    private static readonly ProviderOperation Refresh = new("refresh", Idempotent: false);
    private static readonly ProviderOperation Revoke = new("revoke", Idempotent: true);

    public async Task<TokenResponse> ExchangeCodeAsync(string userId, string code, string verifier, string redirectUri, CancellationToken ct)
    {
        using var _ = MeteringContext.ForUser(userId);
        return await RunAsync(userId, Token, (p, t) => p.ExchangeCodeAsync(code, verifier, redirectUri, t), ct);
    }

    public async Task RevokeAsync(string userId, string token, CancellationToken ct)
    {
        using var _ = MeteringContext.ForUser(userId);
        await RunAsync(userId, Revoke, async (p, t) =>
        {
            await p.RevokeAsync(token, t);
            return true;
        }, ct);
    }

    /// <summary>Runs a Drive call as <paramref name="userId"/> with a fresh access token.</summary>
    /// <exception cref="DriveNotConnectedException">No connection.</exception>
    /// <exception cref="DriveReconsentRequiredException">The grant is gone; the connection is marked for re-consent.</exception>
    /// <exception cref="RetryLaterException">Drive rate-limited this user.</exception>
    public async Task<T> CallAsync<T>(string userId, string operation, Func<IDriveProvider, string, CancellationToken, Task<T>> call, CancellationToken ct, string unit = "api-calls")
    {
        using var _ = MeteringContext.ForUser(userId);
        var connection = await connections.GetAsync(userId, ct) ?? throw new DriveNotConnectedException();
        if (connection.Status == DriveConnection.Reconsent)
        {
            throw new DriveReconsentRequiredException();
        }

        var op = new ProviderOperation(operation, Unit: unit, Idempotent: true);
        var accessToken = connection.AccessExpiresAt - options.Value.RefreshBefore <= time.GetUtcNow()
            ? await RefreshAsync(connection, ct)
            : connection.AccessToken;
        T result;
        try
        {
            result = await RunAsync(userId, op, (p, t) => call(p, accessToken, t), ct);
        }
        catch (DriveUnauthorizedException)
        {
            // Revoked early, or the clock disagrees: refresh once; a second 401 means the grant is gone.
            accessToken = await RefreshAsync(connection, ct);
            try
            {
                result = await RunAsync(userId, op, (p, t) => call(p, accessToken, t), ct);
            }
            catch (DriveUnauthorizedException ex)
            {
                await connections.MarkReconsentAsync(userId, ct);
                LogReconsent(logger, "401 after refresh");
                throw new DriveReconsentRequiredException("Drive refused a freshly refreshed token", ex);
            }
        }

        if (connection.ThrottleStreak > 0)
        {
            await connections.ResetThrottleAsync(userId, ct);
        }

        return result;
    }

    private async Task<string> RefreshAsync(DriveConnection connection, CancellationToken ct)
    {
        if (connection.RefreshToken is null)
        {
            await connections.MarkReconsentAsync(connection.UserId, ct);
            throw new DriveReconsentRequiredException("No refresh token is stored");
        }

        try
        {
            var token = await RunAsync(connection.UserId, Refresh, (p, t) => p.RefreshAsync(connection.RefreshToken, t), ct);
            await connections.SaveAccessTokenAsync(connection.UserId, token.AccessToken, token.RefreshToken, ExpiresAt(token), ct);
            return token.AccessToken;
        }
        catch (DriveReconsentRequiredException)
        {
            await connections.MarkReconsentAsync(connection.UserId, ct);
            LogReconsent(logger, "invalid_grant on refresh");
            throw;
        }
    }

    public DateTimeOffset ExpiresAt(TokenResponse token) => time.GetUtcNow() + TimeSpan.FromSeconds(token.ExpiresInSeconds ?? 3600);

    private async Task<T> RunAsync<T>(string userId, ProviderOperation operation, Func<IDriveProvider, CancellationToken, Task<T>> call, CancellationToken ct)
    {
        try
        {
            var result = await chain.ExecuteAsync(
                operation,
                async (provider, metered, token) =>
                {
                    var value = await call(provider, token);
                    metered.Units = 1;
                    return value;
                },
                ct);
            return result.Value;
        }
        catch (PermanentFailureException ex) when (ex.InnerException is DriveRateLimitedException limited)
        {
            var streak = await connections.AddThrottleAsync(userId, ct);
            var delay = Backoff(streak, limited.RetryAfter, options.Value.MaxBackoff);
            LogThrottled(logger, operation.Name, limited.Reason, delay.TotalSeconds);
            throw new RetryLaterException(delay, $"Drive rate limit ({limited.Reason})", limited);
        }
        catch (PermanentFailureException ex) when (ex.InnerException is DriveUnauthorizedException or DriveFileNotFoundException or DriveReconsentRequiredException)
        {
            throw ex.InnerException;
        }
    }

    /// <summary>
    /// Google's documented back-off (https://developers.google.com/workspace/drive/api/guides/limits#exponential): wait
    /// 2^n seconds plus up to 1 s of random jitter, capped; never less than the Retry-After Drive sent.
    /// </summary>
    internal static TimeSpan Backoff(int streak, TimeSpan? retryAfter, TimeSpan max)
    {
        var exponential = TimeSpan.FromSeconds(Math.Pow(2, Math.Clamp(streak - 1, 0, 20))) + TimeSpan.FromMilliseconds(Random.Shared.Next(0, 1000));
        var wait = exponential < max ? exponential : max;
        return retryAfter is { } after && after > wait ? after : wait;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Drive connection needs re-consent: {Reason}")]
    private static partial void LogReconsent(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Drive {Operation} rate-limited ({Reason}); this user's work waits {Seconds:F1} s")]
    private static partial void LogThrottled(ILogger logger, string operation, string reason, double seconds);
}
