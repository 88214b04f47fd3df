using Dapper;
using Microsoft.Extensions.Caching.Hybrid;
using Npgsql;
using StackExchange.Redis;

namespace Sunaiva.Media.Search;

/// <summary>
/// Search results cached per user (HybridCache: memory, then Redis), keyed by the user's vault version, a row of
/// <c>search_versions</c> that every change to the user's files (upload, indexing, delete) bumps in its own commit
/// (<see cref="BumpSql"/>): a search that starts after a change committed reads the new version, so older entries are
/// never read again and expire on their own, and a change costs no round trip beyond its commit. Without Redis,
/// searches go to Postgres uncached.
/// </summary>
public sealed partial class SearchCache(HybridCache cache, NpgsqlDataSource dataSource, IConnectionMultiplexer redis, ILogger<SearchCache> logger)
{
    /// <summary>Makes every cached search of <c>@userId</c> stale; run it in the transaction (or statement) of the change.</summary>
    public const string BumpSql =
        "INSERT INTO search_versions (user_id, version) VALUES (@userId, 1) ON CONFLICT (user_id) DO UPDATE SET version = search_versions.version + 1";

    private static readonly HybridCacheEntryOptions Entry = new() { Expiration = TimeSpan.FromMinutes(5), LocalCacheExpiration = TimeSpan.FromMinutes(1) };

    public async Task<T> GetOrSearchAsync<T>(string userId, string query, Func<CancellationToken, ValueTask<T>> search, CancellationToken ct)
    {
        if (!redis.IsConnected)
        {
            LogCacheUnavailable(logger);
            return await search(ct);
        }

        long version;
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        {
            version = await connection.ExecuteScalarAsync<long?>(new CommandDefinition(
                "SELECT version FROM search_versions WHERE user_id = @userId", new { userId }, cancellationToken: ct)) ?? 0;
        }

        var key = $"media:vault-search:{UserHash(userId)}:{version}:{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(query)))[..32]}";
        return await cache.GetOrCreateAsync(key, search, Entry, cancellationToken: ct);
    }

    private static string UserHash(string userId) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(userId)))[..32];

    [LoggerMessage(Level = LogLevel.Warning, Message = "Search cache unavailable (Redis is not connected); searching uncached")]
    private static partial void LogCacheUnavailable(ILogger logger);
}
