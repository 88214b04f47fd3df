using Microsoft.Extensions.Caching.Hybrid;
using StackExchange.Redis;

namespace Sunaiva.Media.Search;

/// <summary>
/// Search results cached per user (HybridCache: memory, then Redis), keyed by the user's vault version: any change
/// to the user's files (upload, index, delete) bumps the version in Redis, so older entries are never read again
/// and expire on their own. Without Redis, searches go to Postgres uncached.
/// </summary>
public sealed partial class SearchCache(HybridCache cache, IConnectionMultiplexer redis, ILogger<SearchCache> logger)
{
    private static readonly HybridCacheEntryOptions Entry = new() { Expiration = TimeSpan.FromMinutes(5), LocalCacheExpiration = TimeSpan.FromMinutes(1) };

    public async Task<T> GetOrSearchAsync<T>(string userId, string query, Func<CancellationToken, ValueTask<T>> search, CancellationToken ct)
    {
        long version;
        try
        {
            version = (long?)await redis.GetDatabase().StringGetAsync(VersionKey(userId)) ?? 0;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            LogCacheUnavailable(logger, ex.GetType().Name);
            return await search(ct);
        }

        var key = $"media:search:{UserHash(userId)}:{version}:{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(query)))[..32]}";
        return await cache.GetOrCreateAsync(key, search, Entry, cancellationToken: ct);
    }

    /// <summary>Makes every cached search of the user stale.</summary>
    public async Task InvalidateAsync(string userId, CancellationToken ct)
    {
        try
        {
            await redis.GetDatabase().StringIncrementAsync(VersionKey(userId)).WaitAsync(ct);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Entries live five minutes at most; a missed bump is stale for that long, never leaked to another user.
            LogCacheUnavailable(logger, ex.GetType().Name);
        }
    }

    private static string VersionKey(string userId) => $"media:search-version:{UserHash(userId)}";

    private static string UserHash(string userId) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(userId)))[..32];

    [LoggerMessage(Level = LogLevel.Warning, Message = "Search cache unavailable ({ExceptionType}); searching uncached")]
    private static partial void LogCacheUnavailable(ILogger logger, string exceptionType);
}
