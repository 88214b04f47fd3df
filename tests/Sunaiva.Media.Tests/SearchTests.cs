using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

[Collection(ServersCollection.Name)]
public sealed class SearchTests(MediaServers servers) : IAsyncLifetime
{
    private readonly MediaApp _app = new(servers.Servers, new Dictionary<string, string?> { ["FileVault:MaxDocxUncompressedBytes"] = "200000" });
    private readonly string _ada = "ada-" + Guid.NewGuid().ToString("N")[..8];

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Theory]
    [InlineData("report", "'report'")] // alike in all eight: one alternative, not eight
    [InlineData("nedan", "'ned' | 'nedan'")] // Spanish stems it: two
    [InlineData("\"quarterly report\" -draft", "'quarter' <-> 'report' & !'draft' | 'quarterly' <-> 'report' & !'draft'")]
    public async Task A_search_text_parsed_alike_in_several_languages_is_one_alternative_of_the_query(string text, string expected)
    {
        var query = await _app.ScalarAsync<string>($"SELECT ({Sunaiva.Media.Search.FileSearch.QuerySql})::text", ("q", text));

        Assert.Equal(expected, query);
    }

    [Theory]
    [InlineData("ab", "'ab':*")]
    [InlineData("x.y", "'x.y':*")]
    [InlineData("a-b", "'a-b' <-> 'a' <-> 'b'")] // several words stay whole words
    [InlineData("\"a b\" -c", "'a' <-> 'b' & !'c'")]
    public async Task A_text_too_short_for_the_names_trigrams_is_parsed_once_and_one_word_of_it_is_a_prefix(string text, string expected)
    {
        Assert.True(Sunaiva.Media.Search.FileSearch.MatchesByPrefix(text));

        var query = await _app.ScalarAsync<string>($"SELECT ({Sunaiva.Media.Search.FileSearch.PrefixQuerySql})::text", ("q", text));

        Assert.Equal(expected, query);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("x.abc")]
    [InlineData("ab cde")]
    public void A_text_with_three_letters_in_a_row_is_matched_by_words_and_by_part_of_a_name(string text) =>
        Assert.False(Sunaiva.Media.Search.FileSearch.MatchesByPrefix(text));

    [Fact]
    public async Task A_query_of_exclusions_alone_finds_no_file_by_its_words_and_a_word_with_an_exclusion_still_does()
    {
        using var ada = _app.ClientFor(_ada);
        var ids = await IndexedTextsAsync(ada,
            ("plan.txt", "text/plain", "the budget draft for next year"),
            ("approved.txt", "text/plain", "the budget as approved"),
            ("minutes.txt", "text/plain", "minutes of the meeting"));

        var excluded = await SearchIdsAsync(ada, "-draft");
        var narrowed = await SearchIdsAsync(ada, "budget -draft");

        // Everything but a word would be every file the text index holds (seconds on a large vault), not a search.
        Assert.Empty(excluded);
        Assert.Equal([ids[1]], narrowed);
    }

    [Theory]
    [InlineData("--", 0)]
    [InlineData("\U0001F600", 0)]
    [InlineData("ab", 21)]
    [InlineData("ab cd", 1)]
    public void A_text_without_a_letter_or_digit_is_not_compared_with_names_for_typos(string text, int fuzzyBelow) =>
        Assert.Equal(fuzzyBelow, Sunaiva.Media.Search.FileSearch.FuzzyBelow(new Sunaiva.Media.Search.SearchQuery(text, Limit: 20)));

    [Fact]
    public async Task A_text_of_one_or_two_letters_finds_the_names_and_words_that_begin_with_it_names_first()
    {
        using var ada = _app.ClientFor(_ada);
        var ids = await IndexedTextsAsync(ada,
            ("abacus-notes.txt", "text/plain", "numbers only 1 2 3"), // named
            ("minutes.txt", "text/plain", "an abstract of the talk"), // worded
            ("kebab.txt", "text/plain", "nothing of the kind")); // inside a name's word

        var found = await SearchIdsAsync(ada, "ab");

        // By the beginnings of words (a name's words rank first); not inside a word, which no index could find fast.
        Assert.Equal([ids[0], ids[1]], found);
    }

    [Fact]
    public async Task Searches_run_on_connections_that_plan_each_query_for_its_own_text_and_filters()
    {
        using var ada = _app.ClientFor(_ada);
        await TestFiles.UploadedIdAsync(ada, TestFiles.Text("The walrus hummed."), "text/plain", "walrus.txt");
        // More searches than Postgres runs a prepared statement with its own plans before it may switch to a generic one.
        for (var i = 0; i < 12; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync($"/search?q=walrus{i}")).StatusCode);
        }

        var search = _app.Services.GetRequiredKeyedService<Npgsql.NpgsqlDataSource>(Sunaiva.Media.Search.FileSearch.DataSourceKey);
        await using var connection = await search.OpenConnectionAsync();
        await using var show = new Npgsql.NpgsqlCommand("SHOW plan_cache_mode", connection);

        Assert.Equal("force_custom_plan", await show.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Search_keeps_its_connections_through_a_quiet_spell_so_its_backends_stay_warm()
    {
        // Idle connections closed after a second, looked for every second: what the pool does after five quiet minutes.
        await using var search = Sunaiva.Media.Search.FileSearch.CreateDataSource(_app.ConnectionString + ";Connection Idle Lifetime=1;Connection Pruning Interval=1");
        int before;
        await using (var connection = await search.OpenConnectionAsync())
        {
            before = connection.ProcessID;
        }

        await Task.Delay(TimeSpan.FromSeconds(4));
        await using var again = await search.OpenConnectionAsync();

        // The same Postgres backend, with the shared buffers it has touched already mapped.
        Assert.Equal(before, again.ProcessID);
    }

    [Fact]
    public async Task A_file_indexed_for_search_leaves_nothing_in_the_indexes_pending_lists_that_every_search_would_read()
    {
        using var ada = _app.ClientFor(_ada);
        await UploadIndexedTextAsync(ada, "The narwhal sang under the pier.", "text/plain", "narwhal-notes.txt");

        // gin_clean_pending_list merges an index's pending entries and answers how many pages of them it found.
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT gin_clean_pending_list('files_name_trgm'::regclass)"));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT gin_clean_pending_list('files_search'::regclass)"));
        var hit = Assert.Single((await SearchAsync(ada, "narwhal")).GetProperty("items").EnumerateArray());
        Assert.Equal("narwhal-notes.txt", hit.GetProperty("name").GetString());
    }

    [Theory]
    [InlineData("txt", "text/plain", "The walrus hummed quietly near the lighthouse.")]
    [InlineData("md", "text/markdown", "# Travel plans\n\nThe walrus hummed quietly near the lighthouse.")]
    [InlineData("html", "text/html", "<html><head><style>.walrusstyle{}</style></head><body><h1>Plans</h1><p>The walrus hummed <b>quietly</b> near the lighthouse.</p><script>var x='invisible';</script></body></html>")]
    [InlineData("csv", "text/csv", "animal,place\nwalrus,lighthouse")]
    [InlineData("json", "application/json", "{\"animal\": \"walrus\", \"place\": \"lighthouse\"}")]
    public async Task Text_files_become_searchable_by_content_with_a_highlighted_snippet_on_one_line(string extension, string type, string content)
    {
        using var ada = _app.ClientFor(_ada);
        var id = await UploadIndexedTextAsync(ada, content, type, $"notes.{extension}");

        var page = await SearchAsync(ada, "walrus");

        var hit = Assert.Single(page.GetProperty("items").EnumerateArray());
        Assert.Equal(id, hit.GetProperty("id").GetString());
        var snippet = hit.GetProperty("snippet").GetString()!;
        Assert.Contains("**walrus**", snippet, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain('\n', snippet);
        Assert.DoesNotContain("  ", snippet, StringComparison.Ordinal);
        if (extension == "html")
        {
            Assert.Empty((await SearchAsync(ada, "invisible")).GetProperty("items").EnumerateArray());
        }
    }

    [Fact]
    public async Task Pdf_and_docx_text_is_extracted_and_found()
    {
        using var ada = _app.ClientFor(_ada);
        var pdf = await TestFiles.UploadedIdAsync(ada, TestFiles.Pdf("Quarterly harvest of pomegranates", "second line"), "application/pdf", "report.pdf");
        var docx = await TestFiles.UploadedIdAsync(ada, TestFiles.Docx("Kayak itinerary", "Paddle past the fjord at dawn."), FilesDocx, "trip.docx");
        await IndexedAsync(pdf);
        await IndexedAsync(docx);

        var pomegranates = await SearchAsync(ada, "pomegranates");
        var fjord = await SearchAsync(ada, "fjord");
        var heading = await SearchAsync(ada, "itinerary");

        Assert.Equal(pdf, Assert.Single(pomegranates.GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal(docx, Assert.Single(fjord.GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal(docx, Assert.Single(heading.GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
    }

    [Fact]
    public async Task Stemming_follows_the_language_of_each_file()
    {
        using var ada = _app.ClientFor(_ada);
        var english = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("The children were running to the river and it was the best day of the summer."), "text/plain", "en.txt");
        var french = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("Les enfants mangeaient des pommes dans le jardin et ils étaient contents pour la journée."), "text/plain", "fr.txt");
        await IndexedAsync(english);
        await IndexedAsync(french);

        Assert.Equal("english", await _app.ScalarAsync<string>("SELECT language::text FROM files WHERE id = @id", ("id", english)));
        Assert.Equal("french", await _app.ScalarAsync<string>("SELECT language::text FROM files WHERE id = @id", ("id", french)));
        Assert.Equal(english, Assert.Single((await SearchAsync(ada, "runs")).GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal(french, Assert.Single((await SearchAsync(ada, "pomme")).GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
    }

    [Fact]
    public async Task A_short_note_is_found_by_another_form_of_its_words()
    {
        using var ada = _app.ClientFor(_ada);
        var note = await UploadIndexedTextAsync(ada, "A note about pangolins and quokkas, checked by hand.", "text/plain", "note.txt");

        Assert.Equal("english", await _app.ScalarAsync<string>("SELECT language::text FROM files WHERE id = @id", ("id", note)));
        var hit = Assert.Single((await SearchAsync(ada, "quokka")).GetProperty("items").EnumerateArray());
        Assert.Equal(note, hit.GetProperty("id").GetString());
        Assert.Contains("**quokkas**", hit.GetProperty("snippet").GetString());
    }

    [Fact]
    public async Task Body_matches_rank_by_their_text_not_by_how_much_an_unrelated_name_resembles_the_query()
    {
        using var ada = _app.ClientFor(_ada);
        var lookalike = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("notes about gardening"), "text/plain", "garage.txt");
        // Indexed before the clock moves: the extraction's time limit runs on this clock, and a minute's jump in the middle
        // of it would end the extraction as too long.
        await IndexedAsync(lookalike);
        _app.Time.Advance(TimeSpan.FromMinutes(1));
        var plain = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("notes about gardening!"), "text/plain", "zz.txt");
        await IndexedAsync(plain);

        var items = (await SearchAsync(ada, "gardening")).GetProperty("items");

        // Same text, same rank: the newer first, although "garage" shares trigrams with the query (below the fuzzy threshold) and "zz" none.
        Assert.Equal(2, items.GetArrayLength());
        Assert.Equal(items[0].GetProperty("rank").GetDouble(), items[1].GetProperty("rank").GetDouble());
        Assert.Equal(plain, items[0].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Names_are_found_with_typos_and_partially_and_a_name_match_ranks_above_a_body_match()
    {
        using var ada = _app.ClientFor(_ada);
        var named = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("numbers only 1 2 3"), "text/csv", "quarterly-budget.csv");
        var mentioned = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("we discussed the quarterly figures at length and then the budget too"), "text/plain", "minutes.txt");
        await IndexedAsync(named);
        await IndexedAsync(mentioned);

        var typo = await SearchAsync(ada, "quartely");
        var partial = await SearchAsync(ada, "budg");
        var ranked = await SearchAsync(ada, "quarterly budget");

        Assert.Contains(typo.GetProperty("items").EnumerateArray(), h => h.GetProperty("id").GetString() == named);
        Assert.Contains(partial.GetProperty("items").EnumerateArray(), h => h.GetProperty("id").GetString() == named);
        Assert.Equal(named, ranked.GetProperty("items")[0].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Each_file_is_listed_once_when_its_name_also_resembles_the_text_the_typo_branch_looks_for()
    {
        using var ada = _app.ClientFor(_ada);
        // Found by its name (contains the text), by its words (its name a near miss), and by its name's resemblance only.
        var files = await IndexedTextsAsync(ada,
            ("budget-2026.csv", "text/csv", "numbers 1 2 3"),
            ("budgeet-minutes.txt", "text/plain", "the budget was discussed"),
            ("budgeet-plan.txt", "text/plain", "nothing of the kind"));
        var (named, worded, resembling) = (files[0], files[1], files[2]);

        var ids = await SearchIdsAsync(ada, "budget");

        // The page is not full, so the typo branch ran; the two exact matches are trigram-similar too, and still come once.
        Assert.Equal(3, ids.Count);
        Assert.Equal(new[] { named, worded, resembling }.Order(), ids.Order());
        Assert.Equal(named, ids[0]);
    }

    [Fact]
    public async Task Filters_by_type_and_paging_return_only_matching_files_page_by_page()
    {
        using var ada = _app.ClientFor(_ada);
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await TestFiles.UploadedIdAsync(ada, TestFiles.Text($"gazebo note number {i}"), "text/plain", $"g{i}.txt"));
        }

        var md = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("# gazebo\nin markdown"), "text/markdown", "g.md");
        foreach (var id in ids.Append(md))
        {
            await IndexedAsync(id);
        }

        var markdownOnly = await SearchAsync(ada, "gazebo", "&type=text/markdown");
        var first = await SearchAsync(ada, "gazebo", "&limit=2");
        var second = await SearchAsync(ada, "gazebo", $"&limit=2&offset={first.GetProperty("nextOffset").GetInt32()}");

        Assert.Equal(md, Assert.Single(markdownOnly.GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal(2, first.GetProperty("items").GetArrayLength());
        Assert.Equal(2, second.GetProperty("items").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, second.GetProperty("nextOffset").ValueKind);
        Assert.Equal(4, first.GetProperty("items").EnumerateArray().Concat(second.GetProperty("items").EnumerateArray()).Select(h => h.GetProperty("id").GetString()).Distinct().Count());
    }

    [Fact]
    public async Task Deleting_a_file_removes_it_from_cached_search_results_and_its_text()
    {
        using var ada = _app.ClientFor(_ada);
        var id = await UploadIndexedTextAsync(ada, "the zeppelin manifest", "text/plain", "z.txt");
        var before = await SearchAsync(ada, "zeppelin");

        await ada.DeleteAsync($"/files/{id}");
        var after = await SearchAsync(ada, "zeppelin");

        Assert.Single(before.GetProperty("items").EnumerateArray());
        Assert.Empty(after.GetProperty("items").EnumerateArray());
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM file_texts WHERE file_id = @id", ("id", id)));
    }

    [Fact]
    public async Task A_repeated_search_is_answered_from_the_cache_until_the_users_version_moves()
    {
        using var ada = _app.ClientFor(_ada);
        var id = await UploadIndexedTextAsync(ada, "a note about the capybara", "text/plain", "notes.txt");
        var first = await SearchAsync(ada, "capybara");
        // Renamed behind the service's back: no version bump, so a cached page still shows the old name.
        await _app.ScalarAsync<int>("UPDATE files SET name = 'renamed.txt' WHERE id = @id RETURNING 1", ("id", id));
        var cached = await SearchAsync(ada, "capybara");
        await _app.ScalarAsync<int>($"{Sunaiva.Media.Search.SearchCache.BumpSql} RETURNING 1", ("userId", _ada));
        var fresh = await SearchAsync(ada, "capybara");

        Assert.Equal("notes.txt", Assert.Single(first.GetProperty("items").EnumerateArray()).GetProperty("name").GetString());
        Assert.Equal("notes.txt", Assert.Single(cached.GetProperty("items").EnumerateArray()).GetProperty("name").GetString());
        Assert.Equal("renamed.txt", Assert.Single(fresh.GetProperty("items").EnumerateArray()).GetProperty("name").GetString());
    }

    [Fact]
    public async Task A_file_uploaded_after_a_search_was_cached_is_found_by_its_name_at_once()
    {
        using var ada = _app.ClientFor(_ada);
        // The extraction cannot store text while this lock is held, so only the upload's own commit can make the cached
        // result stale.
        await using var hold = new Npgsql.NpgsqlConnection(_app.ConnectionString);
        await hold.OpenAsync();
        await using var tx = await hold.BeginTransactionAsync();
        await using (var lockTexts = new Npgsql.NpgsqlCommand("LOCK TABLE file_texts IN SHARE ROW EXCLUSIVE MODE", hold, tx))
        {
            await lockTexts.ExecuteNonQueryAsync();
        }

        var before = await SearchAsync(ada, "quokka");
        var id = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("no such word inside"), "text/plain", "quokka-sightings.txt");
        var after = await SearchAsync(ada, "quokka");
        var status = await _app.ScalarAsync<string>("SELECT text_status FROM files WHERE id = @id", ("id", id));
        await tx.RollbackAsync();

        Assert.Empty(before.GetProperty("items").EnumerateArray());
        Assert.Equal(id, Assert.Single(after.GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal("pending", status);
    }

    [Fact]
    public async Task Indexing_publishes_file_indexed_once_with_the_user_and_file()
    {
        using var ada = _app.ClientFor(_ada);
        var id = await UploadIndexedTextAsync(ada, "event please", "text/plain", "e.txt");

        var payload = await _app.ScalarAsync<string>("SELECT payload::text FROM outbox WHERE type = 'file.indexed' AND payload->>'fileId' = @id", ("id", id));
        var data = JsonDocument.Parse(payload!).RootElement;

        Assert.Equal(_ada, data.GetProperty("userId").GetString());
        Assert.Equal("indexed", data.GetProperty("textStatus").GetString());
        Assert.Equal(1L, await _app.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE type = 'file.indexed' AND payload->>'fileId' = @id", ("id", id)));
    }

    [Fact]
    public async Task Images_keep_their_dimensions_audio_awaits_transcription_and_neither_gets_false_text()
    {
        using var ada = _app.ClientFor(_ada);
        var png = await TestFiles.UploadedIdAsync(ada, TestFiles.Png(640, 480), "image/png", "photo.png");
        var mp3 = await TestFiles.UploadedIdAsync(ada, TestFiles.Mp3(), "audio/mpeg", "memo.mp3");
        await IndexedAsync(png, "none");
        await IndexedAsync(mp3, "awaiting_transcription");

        Assert.Equal(640, await _app.ScalarAsync<int>("SELECT (metadata->>'width')::int FROM files WHERE id = @id", ("id", png)));
        Assert.Equal(480, await _app.ScalarAsync<int>("SELECT (metadata->>'height')::int FROM files WHERE id = @id", ("id", png)));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM file_texts WHERE file_id = ANY(@ids)", ("ids", new[] { png, mp3 })));
        Assert.Contains((await SearchAsync(ada, "memo")).GetProperty("items").EnumerateArray(), h => h.GetProperty("id").GetString() == mp3);
    }

    [Theory]
    [InlineData(0)] // held whole, put after its last byte
    [InlineData(200_000)] // put while it arrives (its form gives its length away)
    public async Task An_image_is_stored_with_its_dimensions_and_its_file_indexed_event_without_extraction_work(int padding)
    {
        using var ada = _app.ClientFor(_ada);

        // No waiting: the answer to the upload comes after the row, its dimensions and its event committed together.
        var id = await TestFiles.UploadedIdAsync(ada, TestFiles.Png(1920, 1080, padding), "image/png", "screenshot.png");

        Assert.Equal("none", await _app.ScalarAsync<string>("SELECT text_status FROM files WHERE id = @id", ("id", id)));
        Assert.Equal(1920, await _app.ScalarAsync<int>("SELECT (metadata->>'width')::int FROM files WHERE id = @id", ("id", id)));
        Assert.Equal(1080, await _app.ScalarAsync<int>("SELECT (metadata->>'height')::int FROM files WHERE id = @id", ("id", id)));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE payload = @id", ("id", id)));
        var payload = await _app.ScalarAsync<string>("SELECT payload::text FROM outbox WHERE type = 'file.indexed' AND payload->>'fileId' = @id", ("id", id));
        var data = JsonDocument.Parse(payload!).RootElement;
        Assert.Equal((_ada, "none", "image/png"), (data.GetProperty("userId").GetString(), data.GetProperty("textStatus").GetString(), data.GetProperty("contentType").GetString()));
        Assert.Contains((await SearchAsync(ada, "screenshot")).GetProperty("items").EnumerateArray(), h => h.GetProperty("id").GetString() == id);
    }

    [Fact]
    public async Task A_docx_that_expands_past_the_limit_is_marked_failed_without_being_inflated_and_stays_findable_by_name()
    {
        using var ada = _app.ClientFor(_ada);
        var bomb = TestFiles.Docx("Bomb", new string('a', 1_000_000));
        var id = await TestFiles.UploadedIdAsync(ada, bomb, FilesDocx, "expanding.docx");
        await IndexedAsync(id, "failed");

        Assert.Contains((await SearchAsync(ada, "expanding")).GetProperty("items").EnumerateArray(), h => h.GetProperty("id").GetString() == id);
    }

    [Fact]
    public async Task An_invalid_search_is_a_400_problem()
    {
        using var ada = _app.ClientFor(_ada);

        var empty = await ada.GetAsync("/search?q=");
        var badType = await ada.GetAsync("/search?q=x&type=application/x-elf");
        var badDate = await ada.GetAsync("/search?q=x&from=2026-13-01");
        var badLimit = await ada.GetAsync("/search?q=x&limit=lots");

        Assert.Equal(HttpStatusCode.BadRequest, empty.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badType.StatusCode);
        // A value that does not bind names the parameter and what it takes (not the value sent).
        Assert.Equal(HttpStatusCode.BadRequest, badDate.StatusCode);
        var dateProblem = await badDate.Content.ReadFromJsonAsync<JsonElement>();
        Assert.StartsWith("'from' is not a date and time (ISO 8601", dateProblem.GetProperty("detail").GetString());
        Assert.DoesNotContain("2026-13-01", dateProblem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, badLimit.StatusCode);
        Assert.Equal("'limit' is not a whole number.", (await badLimit.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
    }

    internal const string FilesDocx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

    /// <summary>Uploads a text file and waits until its text is indexed; answers its id.</summary>
    private async Task<string> UploadIndexedTextAsync(HttpClient client, string text, string type, string name)
    {
        var id = await TestFiles.UploadedIdAsync(client, TestFiles.Text(text), type, name);
        await IndexedAsync(id);
        return id;
    }

    private async Task IndexedAsync(string id, string status = "indexed")
    {
        try
        {
            await Eventually.UntilAsync(async () => await _app.ScalarAsync<string>("SELECT text_status FROM files WHERE id = @id", ("id", id)) != "pending", $"file {id} is processed", TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException)
        {
            var work = await _app.ScalarAsync<string>("SELECT status || ' attempts=' || attempts || ' ' || coalesce(last_error, '') FROM work_items WHERE key = @key", ("key", "file.extract:" + id));
            throw new TimeoutException($"file {id} not processed; its work item: {work}");
        }

        Assert.Equal(status, await _app.ScalarAsync<string>("SELECT text_status FROM files WHERE id = @id", ("id", id)));
    }

    /// <summary>Uploads each text file and waits until it is indexed; their ids in the same order.</summary>
    private async Task<string[]> IndexedTextsAsync(HttpClient client, params (string Name, string Type, string Text)[] files)
    {
        var ids = new string[files.Length];
        for (var i = 0; i < files.Length; i++)
        {
            ids[i] = await TestFiles.UploadedIdAsync(client, TestFiles.Text(files[i].Text), files[i].Type, files[i].Name);
        }

        foreach (var id in ids)
        {
            await IndexedAsync(id);
        }

        return ids;
    }

    private static async Task<List<string?>> SearchIdsAsync(HttpClient client, string q) =>
        (await SearchAsync(client, q)).GetProperty("items").EnumerateArray().Select(h => h.GetProperty("id").GetString()).ToList();

    private static async Task<JsonElement> SearchAsync(HttpClient client, string q, string extra = "")
    {
        var response = await client.GetAsync($"/search?q={Uri.EscapeDataString(q)}{extra}");
        Assert.True(response.IsSuccessStatusCode, $"search {q}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
