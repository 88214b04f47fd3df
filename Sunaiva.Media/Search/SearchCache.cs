using Microsoft.Extensions.Caching.Memory;

namespace Sunaiva.Media.Search;

/// <summary>
/// Search pages cached per user and search in this process's memory, each with the user's vault version it was made at:
/// a row of <c>search_versions</c> that every change to the user's files (upload, indexing, delete) bumps in its own commit
/// (<see cref="BumpSql"/>). A cached page is served only when the version read with the request is the one it was made
/// at, so a search that starts after a change committed never gets an older page, and a change costs no round trip beyond
/// its commit. A miss costs one round trip: the version and the search go to Postgres as one batch
/// (<see cref="FileSearch.SearchAsync"/>), the version first, so a page is never marked newer than its data.
/// Redis is not used: before, a miss read the version, then looked the page up in Redis (HybridCache), searched, and
/// waited for the page's write to Redis, which made GET /search p95 21-24 ms on the files bench where the same searches
/// took 15.5-17 ms uncached. Pages are not shared between replicas (a replica searches once per minute per distinct
/// search at most); nothing of a user's files is kept outside Postgres and the process.
/// </summary>
public sealed class SearchCache(IMemoryCache memory)
{
    /// <summary>Makes every cached search of <c>@userId</c> stale; run it in the transaction (or statement) of the change.</summary>
    public const string BumpSql =
        "INSERT INTO search_versions (user_id, version) VALUES (@userId, 1) ON CONFLICT (user_id) DO UPDATE SET version = search_versions.version + 1";

    /// <summary>The user's current version (0 before the first change).</summary>
    public const string VersionSql = "SELECT coalesce((SELECT version FROM search_versions WHERE user_id = @userId), 0)";

    /// <summary>How long a page stays in memory (a newer version makes it unused at once).</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(1);

    /// <summary>The page cached for this search and the version it was made at, if there is one.</summary>
    public Entry? Find(string userId, SearchQuery query) => memory.Get<Entry>(new Key(userId, query));

    public void Set(string userId, SearchQuery query, long version, SearchPage page) =>
        memory.Set(new Key(userId, query), new Entry(version, page), Lifetime);

    private sealed record Key(string UserId, SearchQuery Query);

    /// <summary>A cached page and the user's version it was made at.</summary>
    public sealed record Entry(long Version, SearchPage Page);
}
