using Microsoft.Extensions.Caching.Hybrid;
using Sunaiva.Integration;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

/// <summary>A provider answer as cached: the value and what producing it cost, so a hit knows what it saved.</summary>
public sealed record CachedAnswer<T>(T Value, string Provider, string Unit, decimal Units);

/// <summary>
/// The shared two-level cache (HybridCache: memory, then Redis) for reusable provider answers, with tags for
/// invalidation. Every lookup is metered: hits record the provider cost they avoided.
/// </summary>
public sealed class ProviderCache(HybridCache cache, LedgerMeter meter)
{
    public HybridCache Inner => cache;

    /// <summary>The cached answer for <paramref name="key"/> within <paramref name="capability"/>, produced by <paramref name="factory"/> on a miss.</summary>
    public async ValueTask<T> GetOrCreateAsync<T>(
        string capability,
        string key,
        Func<CancellationToken, ValueTask<CachedAnswer<T>>> factory,
        CancellationToken cancellationToken,
        TimeSpan? expiration = null,
        IEnumerable<string>? tags = null)
    {
        var state = new FactoryState<T>(factory);
        var options = expiration is { } e
            ? new HybridCacheEntryOptions { Expiration = e, LocalCacheExpiration = e < TimeSpan.FromMinutes(5) ? e : TimeSpan.FromMinutes(5) }
            : null;
        var answer = await cache.GetOrCreateAsync(
            $"{capability}:{key}",
            state,
            static async (s, ct) =>
            {
                s.Invoked = true;
                return await s.Factory(ct);
            },
            options,
            (tags ?? []).Append(capability).ToArray(),
            cancellationToken);
        meter.RecordCache(capability, answer.Provider, hit: !state.Invoked, answer.Unit, answer.Units);
        return answer.Value;
    }

    /// <summary>Drops every entry carrying the tag (a capability name drops the whole capability).</summary>
    public ValueTask InvalidateAsync(string tag, CancellationToken cancellationToken) => cache.RemoveByTagAsync(tag, cancellationToken);

    private sealed class FactoryState<T>(Func<CancellationToken, ValueTask<CachedAnswer<T>>> factory)
    {
        public Func<CancellationToken, ValueTask<CachedAnswer<T>>> Factory { get; } = factory;

        public bool Invoked { get; set; }
    }
}
