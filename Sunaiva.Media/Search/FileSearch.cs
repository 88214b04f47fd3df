using Dapper;
using Npgsql;

namespace Sunaiva.Media.Search;

/// <summary>What to look for, in which of the user's files, and which page.</summary>
public sealed record SearchQuery(string Text, string? Type = null, string? Source = null, DateTimeOffset? From = null, DateTimeOffset? To = null, int Limit = 20, int Offset = 0);

/// <summary>One hit: the file, its rank, and a snippet of its text with the matches between <c>**</c>.</summary>
public sealed record SearchHit(string Id, string Name, string ContentType, string Source, long SizeBytes, DateTime CreatedAt, double Rank, string? Snippet);

/// <summary>A page of hits; <c>NextOffset</c> is null on the last page.</summary>
public sealed record SearchPage(IReadOnlyList<SearchHit> Items, int? NextOffset);

/// <summary>
/// Full-text search over the names and texts of one user's files: Postgres FTS on a weighted vector (name A, headings B,
/// body C, each file in its own language), the query parsed in every indexed language at once so the GIN index on
/// <c>(user_id, search_vector)</c> serves it, plus pg_trgm word similarity on names for typos and partial names.
/// Snippets (ts_headline) are computed for the page only.
/// </summary>
public sealed class FileSearch(NpgsqlDataSource dataSource, SearchCache cache)
{
    /// <summary>Languages a file's text may be indexed in (see <see cref="Extraction.LanguageGuess"/>), plus 'simple'.</summary>
    public static readonly string[] Languages = ["english", "french", "german", "spanish", "italian", "portuguese", "dutch", "simple"];

    private static readonly string QuerySql = string.Join(" || ", Languages.Select(l => $"websearch_to_tsquery('{l}', @q)"));

    // The tsquery is computed once (an InitPlan: a scalar subquery), and as a plan parameter it can be an index
    // condition, so the GIN indexes serve each arm of the OR. Every match is ranked, so the per-row cost counts: the
    // name's trigram similarity (about 4 µs a row, two thirds of the ranking time over 2,000 matches) is computed only
    // where the name can carry it (it contains the text, or the fuzzy arm runs); a body-only match ranks by ts_rank alone
    // instead of by the chance similarity of an unrelated name.
    internal static readonly string Sql =
        $"""
        WITH q AS MATERIALIZED (SELECT ({QuerySql}) AS query),
        hits AS (
            SELECT f.id, f.name, f.content_type, f.source, f.size_bytes, f.created_at, f.language,
                   ts_rank(f.search_vector, (SELECT query FROM q))
                   + CASE WHEN f.name ILIKE @like OR (@fuzzy AND @q <% f.name) THEN word_similarity(@q, f.name) ELSE 0 END AS rank
            FROM files f
            WHERE f.user_id = @userId AND f.deleted_at IS NULL
              AND (f.search_vector @@ (SELECT query FROM q) OR f.name ILIKE @like OR (@fuzzy AND @q <% f.name))
              AND (@type::text IS NULL OR f.content_type = @type)
              AND (@source::text IS NULL OR f.source = @source)
              AND (@from::timestamptz IS NULL OR f.created_at >= @from)
              AND (@to::timestamptz IS NULL OR f.created_at < @to)
            ORDER BY rank DESC, f.created_at DESC, f.id
            LIMIT @take OFFSET @offset
        )
        SELECT h.id, h.name, h.content_type AS contenttype, h.source, h.size_bytes AS sizebytes, h.created_at AS createdat, h.rank::float8 AS rank,
               CASE WHEN t.body IS NULL THEN NULL
                    ELSE ts_headline(h.language, left(t.body, 20000), (SELECT query FROM q), 'StartSel=**, StopSel=**, MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=" … "')
               END AS snippet
        FROM hits h LEFT JOIN file_texts t ON t.file_id = h.id AND t.user_id = @userId
        ORDER BY h.rank DESC, h.created_at DESC, h.id
        """;

    public Task<SearchPage> SearchAsync(string userId, SearchQuery query, CancellationToken ct) =>
        cache.GetOrSearchAsync(userId, System.Text.Json.JsonSerializer.Serialize(query), c => new ValueTask<SearchPage>(SearchUncachedAsync(userId, query, c)), ct);

    public async Task<SearchPage> SearchUncachedAsync(string userId, SearchQuery query, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        // Fuzzy name matching (trigram word similarity) is the costly arm: it runs only when the words and name
        // fragments alone do not fill the page, which is when a typo is likely.
        var rows = (await connection.QueryAsync<SearchHit>(new CommandDefinition(Sql, Parameters(userId, query, fuzzy: false), cancellationToken: ct))).ToList();
        if (rows.Count <= query.Limit)
        {
            rows = (await connection.QueryAsync<SearchHit>(new CommandDefinition(Sql, Parameters(userId, query, fuzzy: true), cancellationToken: ct))).ToList();
        }

        var more = rows.Count > query.Limit;
        return new SearchPage(more ? rows[..query.Limit] : rows, more ? query.Offset + query.Limit : null);
    }

    internal static object Parameters(string userId, SearchQuery query, bool fuzzy) => new
    {
        fuzzy,
        userId,
        q = query.Text,
        like = "%" + query.Text.Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_") + "%",
        type = query.Type,
        source = query.Source,
        from = query.From,
        to = query.To,
        take = query.Limit + 1,
        offset = query.Offset,
    };
}
