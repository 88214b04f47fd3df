using Dapper;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Sunaiva.Voice.Entitlements;

/// <summary>A user's plan and what it allows: daily cloud realtime minutes.</summary>
/// <param name="Plan">The active subscription's plan, or null on the free plan.</param>
public sealed record VoiceEntitlement(string? Plan, int RealtimeMinutesPerDay);

/// <summary>Subscriptions mirrored from Billing's events, read through HybridCache.</summary>
public sealed class EntitlementStore(NpgsqlDataSource dataSource, HybridCache cache, IOptions<EntitlementOptions> options)
{
    public async Task<VoiceEntitlement> GetAsync(string userId, CancellationToken ct)
    {
        var entry = new HybridCacheEntryOptions { Expiration = options.Value.CacheFor, LocalCacheExpiration = options.Value.CacheFor };
        var plan = await cache.GetOrCreateAsync(CacheKey(userId), (dataSource, userId), static async (state, token) =>
        {
            await using var connection = await state.dataSource.OpenConnectionAsync(token);
            var row = await connection.QueryFirstOrDefaultAsync<string?>(new CommandDefinition(
                "SELECT coalesce(plan, '') FROM voice_subscriptions WHERE user_id = @userId AND active ORDER BY updated_at DESC LIMIT 1",
                new { userId = state.userId }, cancellationToken: token));
            return new CachedPlan(row is not null, string.IsNullOrEmpty(row) ? null : row);
        }, entry, cancellationToken: ct);
        return plan.Subscribed
            ? new VoiceEntitlement(plan.Plan ?? "paid", plan.Plan is null ? options.Value.PaidMinutesPerDay : options.Value.MinutesFor(plan.Plan))
            : new VoiceEntitlement(null, options.Value.FreeMinutesPerDay);
    }

    /// <summary>Stores a subscription change; a canceled subscription never becomes active again (Stripe does not revive one).</summary>
    internal static Task UpsertAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string subscriptionId, string userId, string? plan, string status, bool active, DateTimeOffset at, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO voice_subscriptions (subscription_id, user_id, plan, status, active, updated_at)
            VALUES (@subscriptionId, @userId, @plan, @status, @active, @at)
            ON CONFLICT (subscription_id) DO UPDATE SET
                plan = coalesce(excluded.plan, voice_subscriptions.plan),
                status = CASE WHEN voice_subscriptions.active OR NOT excluded.active THEN excluded.status ELSE voice_subscriptions.status END,
                active = voice_subscriptions.active AND excluded.active,
                updated_at = greatest(voice_subscriptions.updated_at, excluded.updated_at)
            """,
            new { subscriptionId, userId, plan, status, active, at }, tx, cancellationToken: ct));

    public ValueTask ForgetAsync(string userId, CancellationToken ct) => cache.RemoveAsync(CacheKey(userId), ct);

    private static string CacheKey(string userId) => $"voice:entitlement:{userId}";

    private sealed record CachedPlan(bool Subscribed, string? Plan);
}
