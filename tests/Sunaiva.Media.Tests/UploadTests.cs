using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Media.Files;
using Sunaiva.ServiceDefaults.Storage;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

[Collection(ServersCollection.Name)]
public sealed class UploadTests(MediaServers servers) : IAsyncLifetime
{
    private const int PartSize = 5 * 1024 * 1024;
    private readonly MediaApp _app = new(servers.Servers, new Dictionary<string, string?>
    {
        ["FileVault:PartSizeBytes"] = PartSize.ToString(),
        ["FileVault:MaxUploadBytes"] = (16 * 1024 * 1024).ToString(),
    });

    private readonly string _ada = "ada-" + Guid.NewGuid().ToString("N")[..8];

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Theory]
    [InlineData(false)] // the file alone in its form: its length is known, one put as it arrives
    [InlineData(true)] // a field first: the length is not known, a multipart upload
    public async Task File_of_several_parts_streams_to_storage_and_downloads_byte_for_byte_with_its_sha256(bool fieldFirst)
    {
        using var ada = _app.ClientFor(_ada);
        var png = TestFiles.Png(padding: (2 * PartSize) + 12345);
        using var form = new MultipartFormDataContent();
        if (fieldFirst)
        {
            form.Add(new StringContent("holiday"), "note");
        }

        var part = new ByteArrayContent(png);
        part.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
        form.Add(part, "file", "big.png");

        using var response = await ada.PostAsync("/files", form);
        var file = await response.Content.ReadFromJsonAsync<JsonElement>();
        var download = await ada.GetByteArrayAsync($"/files/{file.GetProperty("id").GetString()}/content");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(png.Length, file.GetProperty("sizeBytes").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(png)), file.GetProperty("sha256").GetString());
        Assert.Equal(png, download);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM file_uploads"));
    }

    [Fact]
    public async Task An_upload_wakes_its_extraction_once_answered_without_waiting_for_the_runner_to_poll()
    {
        // The work runner polls once a minute here (the most it allows), and the wait below is shorter: only the signal an
        // upload sends once its answer is out starts the extraction in time.
        await using var app = new MediaApp(servers.Servers, new Dictionary<string, string?> { ["Work:PollInterval"] = "00:01:00" });
        await app.StartAsync();
        using var ada = app.ClientFor(_ada);
        using var form = new MultipartFormDataContent();
        var part = new ByteArrayContent("A note about quokkas and their island."u8.ToArray());
        part.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/plain");
        form.Add(part, "file", "quokkas.txt");

        using var response = await ada.PostAsync("/files", form);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await Eventually.UntilAsync(
            async () => await app.ScalarAsync<string>("SELECT text_status FROM files WHERE id = @id", ("id", id!)) == "indexed",
            "the upload's text is extracted",
            timeout: TimeSpan.FromSeconds(30));
    }

    [Theory]
    [InlineData("<html><body><script>alert(1)</script></body></html>", "image/png", "face.png")]
    [InlineData("<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>", "image/png", "logo.png")]
    [InlineData("<?xml version=\"1.0\"?><svg><script>alert(1)</script></svg>", "text/plain", "logo.txt")]
    [InlineData("\u007fELF\u0002\u0001\u0001\u0000", "image/png", "a.png")]
    [InlineData("MZ\u0090\u0000", "application/pdf", "setup.pdf")]
    [InlineData("plain words", "application/pdf", "fake.pdf")]
    public async Task Content_that_is_not_what_it_claims_or_not_accepted_is_refused_with_415_and_leaves_nothing(string content, string claimed, string name)
    {
        using var ada = _app.ClientFor(_ada);

        var response = await TestFiles.UploadAsync(ada, TestFiles.Text(content), claimed, name);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u", ("u", _ada)));
        Assert.Empty(await ListObjectsAsync(_ada));
    }

    [Theory]
    [InlineData("hello there", null, "notes.txt", "text/plain")]
    [InlineData("# Title\nbody", "text/plain", "notes.md", "text/markdown")]
    [InlineData("a,b\n1,2", "text/csv", "data.csv", "text/csv")]
    [InlineData("{\"a\": 1}", "application/json", "data.json", "application/json")]
    [InlineData("<!doctype html><p>hi</p>", "text/plain", "page.txt", "text/html")]
    public async Task Text_formats_are_told_apart_by_claim_and_markup_is_always_html(string content, string? claimed, string name, string stored)
    {
        using var ada = _app.ClientFor(_ada);

        var response = await TestFiles.UploadAsync(ada, TestFiles.Text(content), claimed, name);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(stored, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("contentType").GetString());
    }

    [Theory]
    [InlineData("..")]
    [InlineData("evil\u001b[31m.txt")]
    public async Task Names_that_are_empty_dot_dot_or_hold_control_characters_get_400(string name)
    {
        using var ada = _app.ClientFor(_ada);

        var response = await TestFiles.UploadAsync(ada, TestFiles.Text("hello"), "text/plain", name);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u", ("u", _ada)));
    }

    [Fact]
    public async Task A_multipart_body_without_its_boundary_gets_400()
    {
        using var ada = _app.ClientFor(_ada);
        var content = new StringContent("garbage");
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse("multipart/form-data; boundary=xyz");

        var response = await ada.PostAsync("/files", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Html_is_served_as_an_attachment_in_a_csp_sandbox_never_inline()
    {
        using var ada = _app.ClientFor(_ada);
        var id = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("<html><script>steal()</script></html>"), "text/html", "page.html");

        var download = await ada.GetAsync($"/files/{id}/content");

        Assert.Equal("text/html", download.Content.Headers.ContentType?.MediaType);
        Assert.Equal("attachment", download.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Contains("sandbox", download.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", download.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task Upload_over_the_limit_mid_stream_gets_413_and_leaves_no_object_row_or_multipart_upload()
    {
        using var ada = _app.ClientFor(_ada);
        var png = TestFiles.Png(padding: (3 * PartSize) + 2_000_000);

        var response = await TestFiles.UploadAsync(ada, png, "image/png", "huge.png");

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u", ("u", _ada)));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE user_id = @u", ("u", _ada)));
        Assert.Empty(await ListObjectsAsync(_ada));
    }

    [Fact]
    public async Task Upload_aborted_by_the_client_mid_stream_leaves_no_object_row_or_multipart_upload()
    {
        using var ada = _app.ClientFor(_ada);
        using var form = new MultipartFormDataContent();
        var part = new StreamContent(new FailingStream(TestFiles.Png(padding: (2 * PartSize) + 100), failAfter: PartSize + (PartSize / 2)));
        part.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
        form.Add(part, "file", "cut.png");

        await Assert.ThrowsAnyAsync<Exception>(() => ada.PostAsync("/files", form));

        await Sunaiva.Testing.Eventually.UntilAsync(
            async () => await _app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE user_id = @u", ("u", _ada)) == 0 && (await ListObjectsAsync(_ada)).Count == 0,
            "the aborted upload is cleaned up");
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u", ("u", _ada)));
    }

    [Theory]
    [InlineData("image/png", "arriving.png", 1_000_000)] // decided by its signature
    [InlineData("text/plain", "arriving.txt", 0)] // decided by its first 64 KiB
    [InlineData("image/png", "arriving-in-one-put.png", (2 * PartSize) + 12345)] // several parts' worth, in one put held by no buffer
    public async Task A_file_sent_alone_in_its_form_goes_to_storage_while_it_arrives_and_is_stored_byte_for_byte(string type, string name, int padding)
    {
        using var ada = _app.StreamingClientFor(_ada);
        var bytes = type == "image/png" ? TestFiles.Png(padding: padding) : TestFiles.Text(string.Concat(Enumerable.Repeat("a line of notes\n", 70_000)));
        var (form, held) = HeldForm(bytes, holdAt: bytes.Length / 2, type, name);
        using var _ = form;

        var upload = ada.PostAsync("/files", form);
        // The object is in storage while the client still holds back the rest of the file.
        await held.Reached;
        await Sunaiva.Testing.Eventually.UntilAsync(async () => (await ListObjectsAsync(_ada)).Count == 1, "the file is being written to storage before its last byte was sent");
        held.Release();
        using var response = await upload;
        var file = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(type, file.GetProperty("contentType").GetString());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), file.GetProperty("sha256").GetString());
        Assert.Equal(bytes, await ada.GetByteArrayAsync($"/files/{file.GetProperty("id").GetString()}/content"));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE user_id = @u", ("u", _ada)));
    }

    [Theory]
    [InlineData("field after the file", 700_000)]
    [InlineData("no line break after the closing delimiter", 700_000)]
    [InlineData("long epilogue", 700_000)]
    [InlineData("field after the file", PartSize + 300_000)] // of a part or more: read back from storage and stored again
    [InlineData("no line break after the closing delimiter", PartSize + 300_000)]
    [InlineData("long epilogue", PartSize + 300_000)]
    public async Task A_form_whose_length_does_not_give_the_files_length_away_still_stores_exactly_the_file(string framing, int padding)
    {
        using var ada = _app.ClientFor(_ada);
        var png = TestFiles.Png(padding: padding + framing.Length);
        const string boundary = "sunaiva-test-boundary";
        var tail = framing switch
        {
            "field after the file" => $"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nsummer photos\r\n--{boundary}--\r\n",
            "no line break after the closing delimiter" => $"\r\n--{boundary}--",
            _ => $"\r\n--{boundary}--\r\n{new string('x', 5000)}",
        };
        var body = new MemoryStream();
        body.Write(System.Text.Encoding.ASCII.GetBytes($"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"framed.png\"\r\nContent-Type: image/png\r\n\r\n"));
        body.Write(png);
        body.Write(System.Text.Encoding.ASCII.GetBytes(tail));
        var content = new ByteArrayContent(body.ToArray());
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={boundary}");

        using var response = await ada.PostAsync("/files", content);
        var file = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(png.Length, file.GetProperty("sizeBytes").GetInt64());
        Assert.Equal(png, await ada.GetByteArrayAsync($"/files/{file.GetProperty("id").GetString()}/content"));
        // The put of the wrongly guessed length left nothing behind.
        Assert.Equal([FileVault.ObjectKey(_ada, file.GetProperty("id").GetString()!)], await ListObjectsAsync(_ada));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE user_id = @u", ("u", _ada)));
    }

    [Theory]
    [InlineData(1_000_000)]
    [InlineData((2 * PartSize) + 12345)]
    public async Task A_client_that_goes_away_while_its_file_goes_to_storage_leaves_no_object_or_row(int padding)
    {
        using var ada = _app.StreamingClientFor(_ada);
        var (form, held) = HeldForm(TestFiles.Png(padding: padding), holdAt: padding / 2, "image/png", "cut-short.png");
        using var _ = form;
        using var leaving = new CancellationTokenSource();

        var upload = ada.PostAsync("/files", form, leaving.Token);
        await held.Reached;
        await Sunaiva.Testing.Eventually.UntilAsync(async () => (await ListObjectsAsync(_ada)).Count == 1, "the file is being written to storage");
        await leaving.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => upload);
        await Sunaiva.Testing.Eventually.UntilAsync(async () => (await ListObjectsAsync(_ada)).Count == 0, "the broken put's object is deleted");
        await Sunaiva.Testing.Eventually.UntilAsync(
            async () => await _app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE user_id = @u", ("u", _ada)) == 0, "the put's upload row is removed");
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u", ("u", _ada)));
    }

    [Fact]
    public async Task A_put_that_storage_breaks_off_while_the_file_arrives_is_made_again_from_the_files_buffer()
    {
        var breaking = new BreakingHandler(after: 200_000) { InnerHandler = new SocketsHttpHandler() };
        await using var app = await StartWithStreamedPutsThroughAsync(breaking);
        using var ada = app.StreamingClientFor(_ada);
        var png = TestFiles.Png(padding: 1_000_000);

        using var response = await TestFiles.UploadAsync(ada, png, "image/png", "broken-off.png");
        var file = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.True(breaking.BrokeOff);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(png, await ada.GetByteArrayAsync($"/files/{file.GetProperty("id").GetString()}/content"));
        await SweepExpiredUploadsAsync(app);
        Assert.Equal([FileVault.ObjectKey(_ada, file.GetProperty("id").GetString()!)], await ListObjectsAsync(_ada, app));
    }

    [Theory]
    // Storage stops taking the body after 300 KB: the put is given up after a second without progress (408 here) and
    // the file is stored from its buffer.
    [InlineData(300_000, 0, HttpStatusCode.RequestTimeout)]
    // Storage takes 1 MB in 64 KiB steps a quarter of a second apart (about 4 s, never a second without progress): the
    // streamed put itself stores it (a fallback would go through the SDK's client, not this handler).
    [InlineData(int.MaxValue, 250, HttpStatusCode.OK)]
    public async Task A_streamed_put_is_given_up_after_its_idle_timeout_without_progress_and_never_while_storage_takes_its_bytes(
        int stallAfter, int pauseMs, HttpStatusCode putOutcome)
    {
        var paced = new PacedHandler(stallAfter, TimeSpan.FromMilliseconds(pauseMs)) { InnerHandler = new SocketsHttpHandler() };
        await using var app = await StartWithStreamedPutsThroughAsync(paced, idleTimeout: TimeSpan.FromSeconds(1));
        using var ada = app.StreamingClientFor(_ada);
        var png = TestFiles.Png(padding: 1_000_000);

        using var response = await TestFiles.UploadAsync(ada, png, "image/png", "paced.png");
        var file = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal([putOutcome], paced.Outcomes);
        Assert.Equal(png, await ada.GetByteArrayAsync($"/files/{file.GetProperty("id").GetString()}/content"));
        await SweepExpiredUploadsAsync(app);
        Assert.Equal([FileVault.ObjectKey(_ada, file.GetProperty("id").GetString()!)], await ListObjectsAsync(_ada, app));
    }

    [Fact]
    public async Task A_put_of_several_parts_worth_that_storage_breaks_off_is_503_with_retry_after_and_leaves_nothing()
    {
        var breaking = new BreakingHandler(after: 2_000_000) { InnerHandler = new SocketsHttpHandler() };
        await using var app = await StartWithStreamedPutsThroughAsync(breaking);
        using var ada = app.StreamingClientFor(_ada);

        using var response = await TestFiles.UploadAsync(ada, TestFiles.Png(padding: (2 * PartSize) + 12345), "image/png", "broken-off-large.png");

        Assert.True(breaking.BrokeOff);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Empty(await ListObjectsAsync(_ada, app));
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u", ("u", _ada)));
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE user_id = @u", ("u", _ada)));
    }

    [Theory]
    [InlineData(64 * 1024)] // one put, no upload row
    [InlineData((2 * PartSize) + 12345)] // a put of several parts' worth, with its upload row
    public async Task An_upload_whose_row_committed_but_whose_answer_was_lost_keeps_its_object_and_is_stored(int padding)
    {
        // Media's connections go through a relay that loses Postgres's answer to the file row's statement (after Postgres ran
        // and committed it) and closes that connection: the upload's outcome is unknown to Media until it reads the row back.
        await using var proxy = new PostgresRelay(servers.Servers.PostgresPort, loseAnswerTo: FileRowStatement);
        await using var app = await StartThroughAsync(proxy);
        using var ada = app.StreamingClientFor(_ada);
        var png = TestFiles.Png(padding: padding);

        using var response = await TestFiles.UploadAsync(ada, png, "image/png", "answer-lost.png");

        Assert.True(proxy.Lost, "the relay lost the answer to the file row's statement");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        Assert.Equal(png, await ada.GetByteArrayAsync($"/files/{id}/content"));
        Assert.Equal([FileVault.ObjectKey(_ada, id)], await ListObjectsAsync(_ada, app));
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE user_id = @u", ("u", _ada)));
    }

    [Fact]
    public async Task An_upload_whose_outcome_Postgres_cannot_tell_answers_503_keeps_its_object_and_a_retry_finds_the_stored_file()
    {
        // The answer to the file row's statement is lost and Postgres is then unreachable for a while, so Media cannot read
        // the row back: it answers 503 and leaves the object (its row committed) to UploadSweeper, which keeps what a row owns.
        await using var proxy = new PostgresRelay(servers.Servers.PostgresPort, loseAnswerTo: FileRowStatement, downAfterLoss: TimeSpan.FromSeconds(3));
        await using var app = await StartThroughAsync(proxy);
        using var ada = app.StreamingClientFor(_ada);
        var png = TestFiles.Png(padding: 64 * 1024);

        using var lost = await TestFiles.UploadAsync(ada, png, "image/png", "unknown-outcome.png");

        Assert.True(proxy.Lost, "the relay lost the answer to the file row's statement");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, lost.StatusCode);
        Assert.NotNull(lost.Headers.RetryAfter);
        using var again = await Eventually.Get(() => TestFiles.UploadAsync(ada, png, "image/png", "unknown-outcome.png"), r => r.StatusCode != HttpStatusCode.ServiceUnavailable);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode); // the same bytes: the file the lost answer had stored
        var id = (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        Assert.Equal(png, await ada.GetByteArrayAsync($"/files/{id}/content"));
        Assert.Equal([FileVault.ObjectKey(_ada, id)], await ListObjectsAsync(_ada, app));
    }

    [Fact]
    public async Task Content_that_storage_lost_behind_the_vaults_back_answers_404_problem_details_not_500()
    {
        using var ada = _app.ClientFor(_ada);
        using var uploaded = await TestFiles.UploadAsync(ada, TestFiles.Text("kept in the row, gone from storage"), "text/plain", "lost.txt");
        var id = (await uploaded.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await _app.Services.GetRequiredService<IAmazonS3>().DeleteObjectAsync(Extensions.FilesBucket, FileVault.ObjectKey(_ada, id));

        using var response = await ada.GetAsync($"/files/{id}/content");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("File content not found", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync($"/files/{id}")).StatusCode);
    }

    [Fact]
    public async Task Extraction_of_a_file_whose_content_storage_lost_fails_it_at_once_instead_of_retrying()
    {
        using var ada = _app.ClientFor(_ada);
        using var uploaded = await TestFiles.UploadAsync(ada, TestFiles.Text("a note storage will lose"), "text/plain", "lost-later.txt");
        var id = (await uploaded.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await Eventually.UntilAsync(async () => await _app.ScalarAsync<string>("SELECT text_status FROM files WHERE id = @id", ("id", id)) == "indexed", "the file is indexed");

        // The object goes behind the vault's back, and the file's extraction runs again (as after a crash before its commit).
        await _app.Services.GetRequiredService<IAmazonS3>().DeleteObjectAsync(Extensions.FilesBucket, FileVault.ObjectKey(_ada, id));
        await _app.ScalarAsync<int>(
            """
            WITH f AS (UPDATE files SET text_status = 'pending' WHERE id = @id RETURNING id)
            UPDATE work_items SET status = 'pending', attempts = 0, finished_at = NULL, lease_owner = NULL, lease_until = NULL WHERE key = 'file.extract:' || @id RETURNING 1
            """, ("id", id));

        _app.Services.GetRequiredService<Sunaiva.Messaging.Work.WorkQueue>().NotifyAdded();

        await Eventually.UntilAsync(async () => await _app.ScalarAsync<string>("SELECT text_status FROM files WHERE id = @id", ("id", id)) != "pending", "the extraction ran again");
        Assert.Equal("failed", await _app.ScalarAsync<string>("SELECT text_status FROM files WHERE id = @id", ("id", id)));
        Assert.Equal(1, await _app.ScalarAsync<int>("SELECT attempts FROM work_items WHERE key = 'file.extract:' || @id", ("id", id)));
        Assert.Equal("done", await _app.ScalarAsync<string>("SELECT status FROM work_items WHERE key = 'file.extract:' || @id", ("id", id)));
    }

    /// <summary>What only the statement that records a file sends (<see cref="PostgresRelay"/> loses its answer).</summary>
    private const string FileRowStatement = "INSERT INTO files (id";

    /// <summary>Media on a migrated database of its own whose Postgres connections go through <paramref name="proxy"/>.</summary>
    private async Task<MediaApp> StartThroughAsync(PostgresRelay proxy)
    {
        var database = LocalServers.NewDatabaseName("media_lost");
        await servers.Servers.CreateMigratedDatabaseAsync(database, typeof(Program).Assembly);
        var connection = new Npgsql.NpgsqlConnectionStringBuilder(servers.Servers.PostgresConnectionString(database)) { Port = proxy.Port };
        var app = new MediaApp(servers.Servers, new Dictionary<string, string?>
        {
            ["FileVault:PartSizeBytes"] = PartSize.ToString(),
            [$"ConnectionStrings:{ResourceNames.MediaDb}"] = connection.ConnectionString,
        });
        await app.StartAsync();
        return app;
    }

    [Theory]
    [InlineData(PartSize + 10)] // several parts: looked up before the multipart upload completes
    [InlineData(64 * 1024)] // one put: found by the row's unique index when it is recorded, and the put deleted
    public async Task The_same_bytes_uploaded_again_return_the_existing_file_and_store_nothing_new(int padding)
    {
        using var ada = _app.ClientFor(_ada);
        var png = TestFiles.Png(padding: padding);

        var first = await TestFiles.UploadAsync(ada, png, "image/png", "one.png");
        var again = await TestFiles.UploadAsync(ada, png, "image/png", "two.png");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal((await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString(), (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());
        Assert.Single(await ListObjectsAsync(_ada));
    }

    [Fact]
    public async Task Idempotency_key_reused_for_other_bytes_is_422_and_stores_nothing_more()
    {
        using var ada = _app.ClientFor(_ada);

        var first = await TestFiles.UploadAsync(ada, TestFiles.Text("first"), "text/plain", "a.txt", "key-1");
        var other = await TestFiles.UploadAsync(ada, TestFiles.Text("second"), "text/plain", "a.txt", "key-1");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.StatusCode);
        Assert.Single(await ListObjectsAsync(_ada));
    }

    [Fact]
    public async Task Uploads_beyond_the_concurrency_limit_and_queue_are_refused_with_503_and_retry_after_and_leave_nothing()
    {
        await using var app = new MediaApp(servers.Servers, new Dictionary<string, string?>
        {
            ["FileVault:PartSizeBytes"] = PartSize.ToString(),
            ["FileVault:MaxConcurrentUploads"] = "1",
            ["FileVault:UploadQueueLimit"] = "1",
        });
        using var ada = app.ClientFor(_ada);
        using var slow = app.StreamingClientFor(_ada);
        var gate = app.Services.GetRequiredService<UploadGate>();

        // The gate full: one upload streaming, its body held after its first 64 KiB, and one waiting in the queue.
        var (streamingForm, streaming) = HeldForm(TestFiles.Png(padding: PartSize + 100_000), 64 * 1024, "image/png", "streaming.png");
        var (queuedForm, queued) = HeldForm(TestFiles.Png(padding: PartSize + 200_000), 64 * 1024, "image/png", "queued.png");
        var first = slow.PostAsync("/files", streamingForm);
        await Eventually.UntilAsync(() => Task.FromResult(gate.Occupancy().Streaming == 1), "the first upload streams");
        var second = slow.PostAsync("/files", queuedForm);
        await Eventually.UntilAsync(() => Task.FromResult(gate.Occupancy().Queued == 1), "the second upload waits in the queue");

        var refused = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => TestFiles.UploadAsync(ada, TestFiles.Png(padding: 1000 + i), "image/png", $"f{i}.png")));
        streaming.Release();
        queued.Release();
        var admitted = await Task.WhenAll(first, second);

        Assert.All(refused, r =>
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(UploadGate.RetryAfterSeconds), r.Headers.RetryAfter?.Delta);
        });
        Assert.All(admitted, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        Assert.Equal(2, await app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u", ("u", _ada)));
        Assert.Equal(2, (await ListObjectsAsync(_ada, app)).Count);
        Assert.Equal((0, 0), gate.Occupancy());
    }

    [Fact]
    public async Task A_put_orphaned_by_a_crash_is_deleted_by_the_sweeper_with_its_row()
    {
        var s3 = _app.Services.GetRequiredService<IAmazonS3>();
        var key = FileVault.ObjectKey(_ada, "file_put_orphan");
        await s3.PutObjectAsync(new PutObjectRequest { BucketName = Extensions.FilesBucket, Key = key, InputStream = new MemoryStream(TestFiles.Png(padding: 100)) });
        await InsertUploadRowAsync(_app, "file_put_orphan", "", key, "put", _app.Time.GetUtcNow().AddHours(1));

        var sweeper = _app.Services.GetRequiredService<UploadSweeper>();
        var early = await sweeper.SweepAsync(default);
        var stillThere = (await ListObjectsAsync(_ada)).Count;
        await SweptAsync(_app, TimeSpan.FromHours(2),
            async () => await _app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE id = 'file_put_orphan'") == 0, "the orphan's row is swept");

        Assert.Equal(0, early);
        Assert.Equal(1, stillThere);
        Assert.Empty(await ListObjectsAsync(_ada));
    }

    [Fact]
    public async Task An_object_no_row_owns_is_deleted_by_the_storage_scan_once_old_while_stored_files_uploads_in_progress_and_unknown_users_objects_stay()
    {
        // Objects count as old after 3 s here (an hour by default), by storage's modification time and the real clock.
        await using var app = new MediaApp(servers.Servers, new Dictionary<string, string?> { ["FileVault:UnownedObjectAge"] = "00:00:03" });
        await app.StartAsync();
        // A stored file (one put and its row), an object a crash left between its put and its row (no row at all), a
        // resumable upload's object whose upload row is still open, and an object of a user this database knows nothing of
        // (another database's: the store is shared by this collection's tests, as a misconfigured service would share it).
        using var ada = app.ClientFor(_ada);
        using var response = await TestFiles.UploadAsync(ada, TestFiles.Png(padding: 2000), "image/png", "kept.png");
        var stored = FileVault.ObjectKey(_ada, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        var s3 = app.Services.GetRequiredService<IAmazonS3>();
        var crashed = FileVault.ObjectKey(_ada, "file_crashed_before_its_row");
        var resumable = FileVault.ObjectKey(_ada, "file_resumable_in_progress");
        var stranger = "stranger-" + Guid.NewGuid().ToString("N")[..8];
        var unknown = FileVault.ObjectKey(stranger, "file_of_another_database");
        foreach (var key in new[] { crashed, resumable, unknown })
        {
            await s3.PutObjectAsync(new PutObjectRequest { BucketName = Extensions.FilesBucket, Key = key, InputStream = new MemoryStream(TestFiles.Png(padding: 100)), UseChunkEncoding = false });
        }

        await InsertUploadRowAsync(app, "file_resumable_in_progress", "up-1", resumable, "resumable", app.Time.GetUtcNow().AddDays(1));

        var sweeper = app.Services.GetRequiredService<UploadSweeper>();
        await sweeper.ScanStorageAsync(default);
        var afterYoung = await ListObjectsAsync(_ada, app);
        await Task.Delay(TimeSpan.FromSeconds(4.5)); // every object here is now past the age
        // Pages of two keys: users' objects gathered across pages and batches.
        await sweeper.ScanStorageAsync(default, pageSize: 2);
        var afterOld = await ListObjectsAsync(_ada, app);
        var strangersAfterOld = await ListObjectsAsync(stranger, app);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(new[] { crashed, resumable, stored }.Order(), afterYoung.Order());
        Assert.Equal(new[] { resumable, stored }.Order(), afterOld.Order());
        Assert.Equal([unknown], strangersAfterOld);
        Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync($"/files/{stored.Split('/')[^1]}/content")).StatusCode);
    }

    [Fact]
    public async Task Multipart_upload_orphaned_by_a_crash_is_aborted_and_removed_by_the_sweeper()
    {
        var s3 = _app.Services.GetRequiredService<IAmazonS3>();
        var key = FileVault.ObjectKey(_ada, "file_orphan");
        var multipart = await MultipartObject.StartAsync(s3, Extensions.FilesBucket, key, "image/png", default);
        await multipart.UploadPartAsync(1, TestFiles.Png(padding: 100), 133, default);
        await InsertUploadRowAsync(_app, "file_orphan", multipart.UploadId, key, "stream", _app.Time.GetUtcNow().AddHours(1));

        var sweeper = _app.Services.GetRequiredService<UploadSweeper>();
        var early = await sweeper.SweepAsync(default);
        await SweptAsync(_app, TimeSpan.FromHours(2),
            async () => await _app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE id = 'file_orphan'") == 0, "the orphan's row is swept");

        Assert.Equal(0, early);
        Assert.Empty(await ListObjectsAsync(_ada));
    }

    [Fact]
    public async Task Range_request_answers_206_with_exactly_those_bytes_and_416_past_the_end()
    {
        using var ada = _app.ClientFor(_ada);
        var id = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("0123456789"), "text/plain", "digits.txt");

        using var ranged = new HttpRequestMessage(HttpMethod.Get, $"/files/{id}/content");
        ranged.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(2, 5);
        var partial = await ada.SendAsync(ranged);
        using var past = new HttpRequestMessage(HttpMethod.Get, $"/files/{id}/content");
        past.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(50, 60);
        var unsatisfiable = await ada.SendAsync(past);

        Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
        Assert.Equal("2345", await partial.Content.ReadAsStringAsync());
        Assert.Equal("bytes 2-5/10", partial.Content.Headers.ContentRange?.ToString());
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, unsatisfiable.StatusCode);
    }

    [Fact]
    public async Task Resumable_upload_puts_parts_to_presigned_urls_and_completes_into_a_verified_file()
    {
        using var ada = _app.ClientFor(_ada);
        var png = TestFiles.Png(padding: PartSize + 4321);

        var start = await ada.PostAsJsonAsync("/files/uploads", new { name = "scan.png", sizeBytes = png.Length, contentType = "image/png" });
        var upload = await start.Content.ReadFromJsonAsync<JsonElement>();
        var parts = await PutPartsAsync(upload, png);
        var complete = await ada.PostAsJsonAsync($"/files/uploads/{upload.GetProperty("uploadId").GetString()}/complete", new { parts });
        var file = await complete.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.OK, start.StatusCode);
        Assert.Equal(2, upload.GetProperty("parts").GetArrayLength());
        Assert.Equal(HttpStatusCode.Created, complete.StatusCode);
        Assert.Equal("image/png", file.GetProperty("contentType").GetString());
        Assert.Equal(png, await ada.GetByteArrayAsync($"/files/{file.GetProperty("id").GetString()}/content"));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE user_id = @u", ("u", _ada)));
    }

    [Fact]
    public async Task Resumable_upload_of_a_refused_type_is_415_on_completion_and_its_object_is_deleted()
    {
        using var ada = _app.ClientFor(_ada);
        var elf = TestFiles.Text("\u007fELF and more bytes");

        var start = await ada.PostAsJsonAsync("/files/uploads", new { name = "x.png", sizeBytes = elf.Length, contentType = "image/png" });
        var upload = await start.Content.ReadFromJsonAsync<JsonElement>();
        var parts = await PutPartsAsync(upload, elf);
        var complete = await ada.PostAsJsonAsync($"/files/uploads/{upload.GetProperty("uploadId").GetString()}/complete", new { parts });

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, complete.StatusCode);
        Assert.Empty(await ListObjectsAsync(_ada));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u", ("u", _ada)));
    }

    private static async Task<List<object>> PutPartsAsync(JsonElement upload, byte[] bytes)
    {
        using var storage = new HttpClient();
        var partSize = upload.GetProperty("partSizeBytes").GetInt32();
        var parts = new List<object>();
        foreach (var part in upload.GetProperty("parts").EnumerateArray())
        {
            var number = part.GetProperty("partNumber").GetInt32();
            var offset = (number - 1) * partSize;
            using var content = new ByteArrayContent(bytes, offset, Math.Min(partSize, bytes.Length - offset));
            var put = await storage.PutAsync(part.GetProperty("url").GetString(), content);
            Assert.True(put.IsSuccessStatusCode, $"part {number}: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync()}");
            parts.Add(new { partNumber = number, eTag = put.Headers.ETag!.Tag });
        }

        return parts;
    }

    /// <summary>An upload row of <c>_ada</c>'s as the service writes one before storage holds anything (what a crash leaves).</summary>
    private async Task InsertUploadRowAsync(MediaApp app, string id, string storageUploadId, string key, string kind, DateTimeOffset expiresAt) =>
        await app.ScalarAsync<object>(
            "INSERT INTO file_uploads (id, user_id, storage_upload_id, object_key, kind, expires_at, created_at) VALUES (@id, @u, @up, @k, @kind, @until, @at)",
            ("id", id), ("u", _ada), ("up", storageUploadId), ("k", key), ("kind", kind), ("until", expiresAt), ("at", app.Time.GetUtcNow()));

    private Task<List<string>> ListObjectsAsync(string userId, MediaApp? app = null) =>
        TestFiles.StoredObjectsAsync((app ?? _app).Services.GetRequiredService<IAmazonS3>(), userId);

    /// <summary>
    /// Runs the sweeper past every upload row's expiry and waits until the user has none: a put that storage broke off is
    /// left to it (s3rver may write the part it received after the delete sent at once).
    /// </summary>
    private Task SweepExpiredUploadsAsync(MediaApp app) =>
        SweptAsync(app, app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<FileVaultOptions>>().Value.OrphanedUploadAge + TimeSpan.FromMinutes(1),
            async () => await app.ScalarAsync<long>("SELECT count(*) FROM file_uploads WHERE user_id = @u", ("u", _ada)) == 0, "the user's upload rows are swept");

    /// <summary>
    /// Moves the clock <paramref name="pastExpiry"/> on and lets Media's own sweeper remove the expired uploads until
    /// <paramref name="swept"/> holds, moving the clock on by the sweeper's interval between looks: a pass that storage
    /// failed leaves its row for the next round, and the next round comes. No second sweeper is run beside it: two aborting
    /// one multipart upload at once made s3rver exit (ENOENT on the part's file), both passes failed, and the business
    /// clock, which nothing moved any more, never brought the next round.
    /// </summary>
    private static async Task SweptAsync(MediaApp app, TimeSpan pastExpiry, Func<Task<bool>> swept, string what)
    {
        app.Time.Advance(pastExpiry);
        await Sunaiva.Testing.Eventually.UntilAsync(async () =>
        {
            if (await swept())
            {
                return true;
            }

            app.Time.Advance(UploadSweeper.Interval);
            return false;
        }, what, interval: TimeSpan.FromMilliseconds(200));
    }

    /// <summary>A Media whose streamed puts go through <paramref name="handler"/> (the SDK's own requests do not), given up after <paramref name="idleTimeout"/> without progress.</summary>
    private async Task<MediaApp> StartWithStreamedPutsThroughAsync(HttpMessageHandler handler, TimeSpan? idleTimeout = null)
    {
        var app = new MediaApp(servers.Servers, new Dictionary<string, string?> { ["FileVault:PartSizeBytes"] = PartSize.ToString() })
        {
            ConfigureServices = services => services.AddSingleton(sp => new StreamingPut(
                sp.GetRequiredService<IAmazonS3>(), sp.GetRequiredService<StorageConnection>(), new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan }, TimeProvider.System, idleTimeout)),
        };
        await app.StartAsync();
        return app;
    }

    // The body as it is produced (ReadAsStreamAsync would first read all of it into memory).
    private static Stream Relay(HttpContent content)
    {
        var pipe = new System.IO.Pipelines.Pipe();
        _ = Task.Run(async () =>
        {
            try
            {
                await content.CopyToAsync(pipe.Writer.AsStream());
                await pipe.Writer.CompleteAsync();
            }
            catch (Exception ex)
            {
                await pipe.Writer.CompleteAsync(ex);
            }
        });
        return pipe.Reader.AsStream();
    }

    /// <summary>A form with the file alone, whose body stops at <paramref name="holdAt"/> bytes until released.</summary>
    private static (MultipartFormDataContent Form, HeldStream Held) HeldForm(byte[] bytes, int holdAt, string type, string name)
    {
        var held = new HeldStream(bytes, holdAt);
        var part = new StreamContent(held);
        part.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(type);
        var form = new MultipartFormDataContent();
        form.Add(part, "file", name);
        return (form, held);
    }

    /// <summary>
    /// Storage taking a streamed put's body in 64 KiB reads with <paramref name="pause"/> before each, or no more after
    /// <paramref name="stallAfter"/> bytes (until the request is given up). <see cref="Outcomes"/>: each put's answer, or
    /// 408 for a put given up.
    /// </summary>
    private sealed class PacedHandler(int stallAfter = int.MaxValue, TimeSpan pause = default) : DelegatingHandler
    {
        public List<HttpStatusCode> Outcomes { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Method != HttpMethod.Put || request.Content is not { } content)
            {
                return await base.SendAsync(request, cancellationToken);
            }

            var paced = new StreamContent(new PacedStream(Relay(content), stallAfter, pause), 64 * 1024);
            paced.Headers.ContentLength = content.Headers.ContentLength;
            paced.Headers.ContentType = content.Headers.ContentType;
            request.Content = paced;
            try
            {
                var response = await base.SendAsync(request, cancellationToken);
                Outcomes.Add(response.StatusCode);
                return response;
            }
            catch (OperationCanceledException)
            {
                Outcomes.Add(HttpStatusCode.RequestTimeout);
                throw;
            }
        }

        private sealed class PacedStream(Stream source, int stallAfter, TimeSpan pause) : MemoryStream
        {
            private int _read;

            public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            {
                if (_read >= stallAfter)
                {
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }

                if (pause > TimeSpan.Zero)
                {
                    await Task.Delay(pause, cancellationToken);
                }

                var read = await source.ReadAsync(buffer[..Math.Min(buffer.Length, Math.Min(64 * 1024, stallAfter - _read))], cancellationToken);
                _read += read;
                return read;
            }
        }
    }

    /// <summary>Storage's connection breaking off after some bytes of a streamed put (once; later requests pass).</summary>
    private sealed class BreakingHandler(int after) : DelegatingHandler
    {
        public bool BrokeOff { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (!BrokeOff && request.Method == HttpMethod.Put && request.Content is { } content)
            {
                BrokeOff = true;
                var cut = new StreamContent(new CutStream(content, after));
                cut.Headers.ContentLength = content.Headers.ContentLength;
                cut.Headers.ContentType = content.Headers.ContentType;
                request.Content = cut;
            }

            return base.SendAsync(request, cancellationToken);
        }

        private sealed class CutStream(HttpContent content, int after) : MemoryStream
        {
            private Stream? _source;
            private int _read;

            public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            {
                _source ??= Relay(content);
                if (_read >= after)
                {
                    throw new IOException("Connection reset by storage");
                }

                var read = await _source.ReadAsync(buffer[..Math.Min(buffer.Length, after - _read)], cancellationToken);
                _read += read;
                return read;
            }
        }
    }

    /// <summary>A body that stops after some bytes until released, like a client on a slow link.</summary>
    private sealed class HeldStream(byte[] bytes, int holdAt) : MemoryStream(bytes, writable: false)
    {
        private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Reached => _reached.Task;

        public void Release() => _released.TrySetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position >= holdAt)
            {
                _reached.TrySetResult();
                await _released.Task.WaitAsync(cancellationToken);
                return await base.ReadAsync(buffer, cancellationToken);
            }

            return await base.ReadAsync(buffer[..(int)Math.Min(buffer.Length, holdAt - Position)], cancellationToken);
        }
    }

    /// <summary>A body that breaks after some bytes, like a client that loses its connection.</summary>
    private sealed class FailingStream(byte[] bytes, int failAfter) : MemoryStream(bytes, writable: false)
    {
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position >= failAfter)
            {
                throw new IOException("connection lost");
            }

            return await base.ReadAsync(buffer[..(int)Math.Min(buffer.Length, failAfter - Position)], cancellationToken);
        }

        public override int Read(byte[] buffer, int offset, int count) =>
            Position >= failAfter ? throw new IOException("connection lost") : base.Read(buffer, offset, (int)Math.Min(count, failAfter - Position));
    }
}
