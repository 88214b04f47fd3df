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
public sealed partial class FileSearch([FromKeyedServices(FileSearch.DataSourceKey)] NpgsqlDataSource dataSource, SearchCache cache)
{
    /// <summary>The key of search's own data source (<see cref="CreateDataSource"/>).</summary>
    public const string DataSourceKey = "search";

    /// <summary>
    /// Search's own connections, on which Postgres plans every query for its own values (<c>plan_cache_mode =
    /// force_custom_plan</c>). On the service's connections statements are prepared (Npgsql's auto-prepare), and Postgres
    /// moves a prepared statement to a generic plan after five runs once it estimates that plan no dearer; for this one (the
    /// ILIKE pattern, the tsquery and the branch switches are parameters) the generic plan scans the user's rows: GET
    /// /search p50 86 ms, p95 440 ms against 12 ms and 23 ms with a plan per query, on the files bench's 1,000,000 files
    /// (2026-11-30, the same with the build before), while the same SQL sent unprepared took 10 ms. Planning costs about a
    /// millisecond of a search; a plan that scans costs hundreds.
    /// </summary>
    public static NpgsqlDataSource CreateDataSource(string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        builder.ConnectionStringBuilder.Options = $"{builder.ConnectionStringBuilder.Options} -c plan_cache_mode=force_custom_plan".Trim();
        // Prepared all the same: a custom plan still skips parsing and rewriting the statement again (0.4 ms of each search).
        builder.ConnectionStringBuilder.MaxAutoPrepare = 4;
        builder.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
        // Two connections are kept through quiet spells (Npgsql closes idle ones after Connection Idle Lifetime, 300 s, down
        // to this many). A new backend takes a page fault on every 4 KB of shared_buffers it touches first when Postgres's
        // shared memory is not in huge pages: on the files bench's 1,000,000 files a word in 1,520 files took 28 ms on a new
        // connection and 6-8 ms on one that had searched before (docs/files.md, "A search on a new connection").
        builder.ConnectionStringBuilder.MinPoolSize = Math.Max(builder.ConnectionStringBuilder.MinPoolSize, 2);
        return builder.Build();
    }

    /// <summary>Languages a file's text may be indexed in (see <see cref="Extraction.LanguageGuess"/>), plus 'simple'.</summary>
    public static readonly string[] Languages = ["english", "french", "german", "spanish", "italian", "portuguese", "dutch", "simple"];

    /// <summary>
    /// The text parsed in every language, each distinct parse once: most words come out the same in most languages
    /// (<c>'nedan' | 'nedan' | 'nedan' | 'ned' | ...</c>, eight alternatives for two lexemes), and the GIN index looks up,
    /// and ts_rank and ts_headline weigh, every alternative of the query. On the files bench's 1,000,000 files the index
    /// scan for a word of 906 files took 1.8 ms with the eight and 0.8 ms with one. The parses are joined in their text
    /// form, which tsquery reads back as it wrote it (quoting, prefixes, phrases, negation); with none left (no lexeme
    /// in any language: 'simple' has no stop words) the query is the empty one, as before.
    /// </summary>
    internal static readonly string QuerySql =
        $"coalesce((SELECT string_agg(DISTINCT '(' || p::text || ')', ' | ') FROM unnest(ARRAY[{string.Join(", ", Languages.Select(l => $"websearch_to_tsquery('{l}', @q)"))}]) p WHERE numnode(p) > 0)::tsquery, websearch_to_tsquery('simple', @q))";

    /// <summary>
    /// The query of a text matched by the beginnings of words (<see cref="MatchesByPrefix"/>): parsed once, without stemming
    /// ('simple'), and when it is one word, that word a prefix (<c>'ab':*</c>). The text index serves a prefix as a range
    /// of its entries, and a name's words are in the vector (weight A), so <c>abacus.txt</c> is found by <c>ab</c> and ranked
    /// above a text that says <c>abstract</c>. Several short words (<c>x y</c>, <c>a-b</c>) stay whole words: each prefix
    /// would have the index gather every file with a word beginning so, before they are intersected (<c>a-b</c> as
    /// prefixes 200 ms, as words 1 ms). Immutable functions of the text alone (no subquery), so Postgres folds it to a
    /// constant when it plans the statement for the text.
    /// </summary>
    internal const string PrefixQuerySql =
        "(CASE WHEN numnode(websearch_to_tsquery('simple', @q)) = 1 THEN (websearch_to_tsquery('simple', @q)::text || ':*')::tsquery ELSE websearch_to_tsquery('simple', @q) END)";

    /// <summary>
    /// Matches of the words ranked per query, at most (and as many more as the page asked for needs). A word in thousands
    /// of the user's files would otherwise cost one heap row and one ts_rank per match (about 6 µs each warm, 20 µs when
    /// other queries have pushed the rows out of shared buffers). The trade-off: past this many, the word matches ranked are
    /// the first found in the table's order (roughly the oldest indexed), not all of them. Names containing the text are
    /// a separate set with the same bound, so a file named after the words still competes (and comes first).
    /// </summary>
    public const int MaxRankedMatches = 1_000;

    /// <summary>
    /// Names within trigram word similarity of the text read and ranked per query, at most (and as many more as the page
    /// asked for needs). A short text or a typo of a common syllable is trigram-similar to thousands of names (a
    /// four-letter text with no exact match, <c>ture</c>: 3,802 of 100,000 in bench/Sunaiva.Bench.Files; the typo
    /// <c>felmorex</c>: 2,697), and every candidate costs a heap row and its similarity rechecked (the index is lossy), about
    /// 5 µs each warm: reading all 2,697 took 15 ms, the first 1,000 9.5 ms, 500 6.5 ms, 250 5.3 ms (the index look-up
    /// itself about 4 ms; 2026-11-30, the files bench's 1,000,000 files). Past this many the names ranked are the first
    /// found in the table's order (roughly the oldest), not the most similar or the newest: a typo that resembles this
    /// many names mostly resembles them all alike, and a text that is part of a name is found by the exact name branch,
    /// which has the larger bound.
    /// </summary>
    public const int MaxFuzzyMatches = 300;

    // The tsquery is computed once (an InitPlan: a scalar subquery); as a plan parameter it is an index condition, so
    // each branch has its GIN index. Three branches, each ranking only its own rows:
    //  - named (one word with three letters or digits in a row, @partial; see MatchesByPrefix): the name contains the
    //    text (trigram index, ILIKE: partial names): ts_rank plus the name's word similarity, at most MaxRankedMatches of them. Several words are found in names by their words
    //    (a name's words are in its vector with weight A, ranked above a body's C): ILIKE on a phrase reads the postings of
    //    every trigram of the phrase across all users' names (6-10 ms for two ten-letter words, whatever it finds);
    //  - worded: the words match (FTS index) and the name does not contain the text: ts_rank alone (a body match is not
    //    ranked by the chance resemblance of an unrelated name), at most MaxRankedMatches of them;
    //  - fuzzy (only when the other two found fewer than @fuzzyBelow rows: one word, the page is not full; several words,
    //    nothing; see FuzzyBelow): names within trigram word similarity of the text (typos) that neither branch found, ranked
    //    by that similarity. As a third arm of one OR it made every exact match pay the trigram check and the similarity
    //    too: 9-12 ms where this branch costs 4-5 ms (320 fuzzy names among 100,000). Deciding it in the same statement
    //    (the exact rows are materialized and counted once) saves the second run it took before. It runs only when
    //    neither exact branch reached its bound (fewer rows than the page needs, which is at most the bound), so the
    //    exact rows are all of the exact matches and excluding their ids excludes every exact match: cheaper than testing
    //    each candidate's name and words again (about 1 ms for 1,000 candidates). At most MaxFuzzyMatches of them.
    internal static readonly string Sql = BuildSql(prefix: false);

    /// <summary>
    /// <see cref="Sql"/> for a text matched by the beginnings of words (<see cref="MatchesByPrefix"/>). The word branch
    /// tests the prefix query written out in the statement (folded to a constant when Postgres plans it for the text), not
    /// the CTE's value, which the planner cannot see: so it estimates how many of the user's files the prefix matches and
    /// takes the newest first. A prefix most words share (<c>mi</c>: nearly all of the bench user's 100,000 files) walks the
    /// user's files newest first until the bound is met (14 ms) instead of collecting every match from the text index
    /// (228 ms); a rare one (<c>xx</c>) is looked up in the text index (1-2 ms).
    /// </summary>
    internal static readonly string PrefixSql = BuildSql(prefix: true);

    private static string BuildSql(bool prefix)
    {
        // What the word branch tests files with: the prefix query written out (see PrefixSql), else the CTE's query.
        var wordQuery = prefix ? PrefixQuerySql : "(SELECT query FROM q)";
        return $"""
        WITH q AS MATERIALIZED (SELECT ({(prefix ? PrefixQuerySql : QuerySql)}) AS query),
        exact AS MATERIALIZED (
            SELECT n.id, n.name, n.content_type, n.source, n.size_bytes, n.created_at, n.language,
                   ts_rank(n.search_vector, (SELECT query FROM q)) + word_similarity(@q, n.name) AS rank
            FROM (
                SELECT f.id, f.name, f.content_type, f.source, f.size_bytes, f.created_at, f.language, f.search_vector
                FROM files f
                WHERE @partial AND f.user_id = @userId AND f.deleted_at IS NULL AND f.name ILIKE @like
                  {Filters}
                LIMIT greatest({MaxRankedMatches}, @offset + @take)
            ) n
            UNION ALL
            SELECT w.id, w.name, w.content_type, w.source, w.size_bytes, w.created_at, w.language, ts_rank(w.search_vector, (SELECT query FROM q)) AS rank
            FROM (
                SELECT f.id, f.name, f.content_type, f.source, f.size_bytes, f.created_at, f.language, f.search_vector
                FROM files f
                WHERE {Searchable(wordQuery)}
                  AND f.user_id = @userId AND f.deleted_at IS NULL AND f.search_vector @@ {wordQuery}
                  AND (NOT @partial OR f.name NOT ILIKE @like)
                  {Filters}
                {(prefix ? "ORDER BY f.created_at DESC" : "")}
                LIMIT greatest({MaxRankedMatches}, @offset + @take)
            ) w
        ),
        matches AS (
            SELECT * FROM exact
            UNION ALL
            SELECT z.id, z.name, z.content_type, z.source, z.size_bytes, z.created_at, z.language, word_similarity(@q, z.name) AS rank
            FROM (
                SELECT f.id, f.name, f.content_type, f.source, f.size_bytes, f.created_at, f.language
                FROM files f
                WHERE (SELECT count(*) FROM exact) < @fuzzyBelow AND {Searchable("(SELECT query FROM q)")}
                  AND f.user_id = @userId AND f.deleted_at IS NULL AND @q <% f.name
                  AND f.id NOT IN (SELECT e.id FROM exact e)
                  {Filters}
                LIMIT greatest({MaxFuzzyMatches}, @offset + @take)
            ) z
        ),
        hits AS (
            SELECT * FROM matches
            ORDER BY rank DESC, created_at DESC, id
            LIMIT @take OFFSET @offset
        )
        SELECT h.id, h.name, h.content_type AS contenttype, h.source, h.size_bytes AS sizebytes, h.created_at AS createdat, h.rank::float8 AS rank,
               CASE WHEN t.body IS NULL THEN NULL
                    ELSE ts_headline(h.language, left(t.body, 20000), (SELECT query FROM q), 'StartSel=**, StopSel=**, MaxFragments=2, MaxWords=24, MinWords=8, FragmentDelimiter=" … "')
               END AS snippet
        FROM hits h LEFT JOIN file_texts t ON t.file_id = h.id AND t.user_id = @userId
        ORDER BY h.rank DESC, h.created_at DESC, h.id
        """;
    }

    /// <summary>
    /// The query has a word a file must contain: not exclusions alone (<c>-draft</c>, <c>-a or b</c>), whose index-usable part
    /// (<c>querytree</c>) is <c>T</c>, everything. The text index can only list every entry for those (<c>-mibre</c>: 2.4 s on
    /// the files bench's 1,000,000 files), so such a query finds files by name (a name containing the text) and by no word,
    /// as web search engines answer a query of exclusions alone. A condition on the query alone: Postgres checks it once,
    /// before the branch reads anything.
    /// </summary>
    private static string Searchable(string query) => $"querytree({query}) <> 'T'";

    private const string Filters =
        """
        AND (@type::text IS NULL OR f.content_type = @type)
              AND (@source::text IS NULL OR f.source = @source)
              AND (@from::timestamptz IS NULL OR f.created_at >= @from)
              AND (@to::timestamptz IS NULL OR f.created_at < @to)
        """;

    /// <summary>The user's version, then the search: one batch, one round trip.</summary>
    private static readonly string VersionAndSearchSql = $"{SearchCache.VersionSql};\n{Sql}";

    private static readonly string VersionAndPrefixSearchSql = $"{SearchCache.VersionSql};\n{PrefixSql}";

    /// <summary>
    /// A page of the user's search: from the cache when it holds one made at the user's current version (one round trip,
    /// the version), else the version and the search as one batch (one round trip).
    /// </summary>
    public async Task<SearchPage> SearchAsync(string userId, SearchQuery query, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        if (cache.Find(userId, query) is { } cached
            && await connection.ExecuteScalarAsync<long>(new CommandDefinition(SearchCache.VersionSql, new { userId }, cancellationToken: ct)) == cached.Version)
        {
            return cached.Page;
        }

        var byPrefix = MatchesByPrefix(query.Text);
        using var results = await connection.QueryMultipleAsync(new CommandDefinition(byPrefix ? VersionAndPrefixSearchSql : VersionAndSearchSql, Parameters(userId, query, byPrefix), cancellationToken: ct));
        var version = await results.ReadSingleAsync<long>();
        var rows = (await results.ReadAsync<SearchHit>()).Select(h => h.Snippet is null ? h : h with { Snippet = OneLine(h.Snippet) }).ToList();
        var more = rows.Count > query.Limit;
        var page = new SearchPage(more ? rows[..query.Limit] : rows, more ? query.Offset + query.Limit : null);
        cache.Set(userId, query, version, page);
        return page;
    }

    /// <summary>
    /// A snippet as one line: the text's own line breaks and runs of white space (a Markdown heading, a CSV's rows) become
    /// one space, as a preview under a file's name shows it.
    /// </summary>
    internal static string OneLine(string snippet) => WhiteSpaceRun().Replace(snippet.Trim(), " ");

    [System.Text.RegularExpressions.GeneratedRegex(@"\s+")]
    private static partial System.Text.RegularExpressions.Regex WhiteSpaceRun();

    /// <summary>
    /// The fuzzy name arm (trigram word similarity, the costly one) runs when the exact matches number fewer than this:
    /// for one word, when they do not fill the page asked for (a typo is likely); for several words, only when nothing
    /// matched exactly. A phrase's word similarity reads the index postings of every trigram of the phrase across all
    /// users' names (22 for two ten-letter words: 6-10 ms for a handful of candidates), and a phrase whose words already
    /// match files is not a misspelt name. A text without a letter or digit (<c>--</c>, an emoji) never: pg_trgm makes no
    /// trigram of it, so the name index cannot serve <c>q &lt;% name</c>, and Postgres compared it with each of the user's
    /// names (<c>--</c>: 100,460 names, 624 ms on the files bench's data).
    /// </summary>
    public static int FuzzyBelow(SearchQuery query) =>
        !query.Text.Any(char.IsLetterOrDigit) ? 0 : IsOneWord(query.Text) ? query.Offset + query.Limit + 1 : 1;

    /// <summary>One word (no white space): the text may be part of a name (ILIKE).</summary>
    public static bool IsOneWord(string text) => !text.AsSpan().Trim().ContainsAny(' ', '\t');

    /// <summary>
    /// A text with no run of three letters or digits: pg_trgm takes no trigram from it (it reads a LIKE pattern's words,
    /// and a word shorter than three characters inside <c>%...%</c> gives none), so <c>name ILIKE '%ab%'</c> cannot use
    /// the name's trigram index, and Postgres scanned the whole table for it, hoping to meet the branch's LIMIT early: on
    /// the files bench's 1,000,000 files <c>x</c> took 4.0 s, <c>ab</c> 1.1 s, <c>x.y</c> 0.7 s (2026-12-02). Such a text
    /// matches the beginnings of words instead (<see cref="PrefixSql"/>), names' words included, as a search box does while
    /// the user types.
    /// </summary>
    public static bool MatchesByPrefix(string text)
    {
        var run = 0;
        foreach (var c in text)
        {
            run = char.IsLetterOrDigit(c) ? run + 1 : 0;
            if (run == 3)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The statement's parameters; <paramref name="byPrefix"/> is <see cref="MatchesByPrefix"/> of the text.</summary>
    internal static object Parameters(string userId, SearchQuery query, bool byPrefix) => new
    {
        fuzzyBelow = FuzzyBelow(query),
        partial = IsOneWord(query.Text) && !byPrefix,
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
