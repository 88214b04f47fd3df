using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

[Collection(ServersCollection.Name)]
public sealed class PrivacyAndMcpTests(MediaServers servers) : MediaTestBase(servers)
{
    [Fact]
    public async Task Mcp_tools_search_read_a_bounded_range_and_list_the_callers_files_over_http()
    {
        using var ada = App.ClientFor(Ada);
        var text = "The lighthouse keeper's log: " + string.Concat(Enumerable.Range(0, 200).Select(i => $"entry {i}. "));
        var id = await TestFiles.UploadedIdAsync(ada, TestFiles.Text(text), "text/plain", "keeper-log.txt");
        await IndexedAsync(id);
        await using var mcp = await McpTesting.ConnectAsync(ada);

        var tools = await mcp.ListToolsAsync();
        var search = await mcp.CallToolAsync("search_files", new Dictionary<string, object?> { ["query"] = "lighthouse" });
        var read = await mcp.CallToolAsync("read_file", new Dictionary<string, object?> { ["fileId"] = id, ["offset"] = 4, ["length"] = 10 });
        var recent = await mcp.CallToolAsync("list_recent_files", new Dictionary<string, object?> { ["limit"] = 5 });
        var tooLong = await mcp.CallToolAsync("read_file", new Dictionary<string, object?> { ["fileId"] = id, ["length"] = 1_000_000 });

        Assert.Equal(["list_recent_files", "read_file", "search_files"], tools.Select(t => t.Name).Order().ToArray());
        Assert.Equal(id, McpTesting.Structured(search).GetProperty("items")[0].GetProperty("id").GetString());
        Assert.Equal(text.Substring(4, 10), McpTesting.Structured(read).GetProperty("text").GetString());
        Assert.Equal(14, McpTesting.Structured(read).GetProperty("nextOffset").GetInt32());
        Assert.Equal(id, McpTesting.Structured(recent)[0].GetProperty("id").GetString());
        Assert.True(tooLong.IsError);
        var calls = await Eventually.Get(
            () => App.ScalarAsync<long>("SELECT count(*) FROM usage_ledger WHERE capability = 'mcp' AND user_id = @u", ("u", Ada)),
            n => n >= 4);
        Assert.True(calls >= 4, $"metered tool calls: {calls}");
    }

    [Fact]
    public async Task Another_user_gets_404_from_every_endpoint_and_nothing_from_search_list_or_mcp()
    {
        using var ada = App.ClientFor(Ada);
        using var bob = App.ClientFor(Bob);
        var id = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("ada's private diary about the orchard"), "text/plain", "diary.txt");
        await IndexedAsync(id);
        var upload = await (await ada.PostAsJsonAsync("/files/uploads", new { name = "big.png", sizeBytes = 10 })).Content.ReadFromJsonAsync<JsonElement>();
        await using var bobMcp = await McpTesting.ConnectAsync(bob);

        var responses = new[]
        {
            await bob.GetAsync($"/files/{id}"),
            await bob.GetAsync($"/files/{id}/content"),
            await bob.GetAsync($"/files/{id}/access-log"),
            await bob.GetAsync($"/files?before={id}"),
            await bob.PostAsJsonAsync($"/files/uploads/{upload.GetProperty("uploadId").GetString()}/complete", new { parts = new[] { new { partNumber = 1, eTag = "\"x\"" } } }),
            await bob.DeleteAsync($"/files/{id}"),
        };
        var list = await bob.GetFromJsonAsync<JsonElement>("/files");
        var search = await bob.GetFromJsonAsync<JsonElement>("/search?q=orchard");
        var read = await bobMcp.CallToolAsync("read_file", new Dictionary<string, object?> { ["fileId"] = id });
        var mcpSearch = await bobMcp.CallToolAsync("search_files", new Dictionary<string, object?> { ["query"] = "orchard" });
        var recent = await bobMcp.CallToolAsync("list_recent_files", new Dictionary<string, object?>());

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.NotFound, r.StatusCode));
        Assert.Empty(list.EnumerateArray());
        Assert.Empty(search.GetProperty("items").EnumerateArray());
        Assert.True(read.IsError);
        Assert.Contains("not found", McpTesting.Text(read), StringComparison.OrdinalIgnoreCase);
        Assert.Empty(McpTesting.Structured(mcpSearch).GetProperty("items").EnumerateArray());
        Assert.Empty(McpTesting.Structured(recent).EnumerateArray());
        Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync($"/files/{id}")).StatusCode);
    }

    [Fact]
    public async Task Mcp_without_a_bearer_token_is_refused()
    {
        using var anonymous = App.CreateClient();

        var response = await anonymous.PostAsJsonAsync("/mcp", new { jsonrpc = "2.0", id = 1, method = "tools/list" });

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Access_log_lists_downloads_ranges_and_mcp_reads_of_the_file_to_its_owner()
    {
        using var ada = App.ClientFor(Ada);
        var id = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("audit me please"), "text/plain", "audit.txt");
        await IndexedAsync(id);
        await using var mcp = await McpTesting.ConnectAsync(ada);

        await ada.GetByteArrayAsync($"/files/{id}/content");
        using var ranged = new HttpRequestMessage(HttpMethod.Get, $"/files/{id}/content");
        ranged.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(0, 4);
        await ada.SendAsync(ranged);
        await mcp.CallToolAsync("read_file", new Dictionary<string, object?> { ["fileId"] = id });
        var log = await ada.GetFromJsonAsync<JsonElement>($"/files/{id}/access-log");

        Assert.Equal(["mcp.read_file", "download.range", "download"], log.EnumerateArray().Select(e => e.GetProperty("action").GetString()!).ToArray());
    }

    [Fact]
    public async Task File_names_are_sanitized_and_no_content_name_or_token_reaches_the_logs()
    {
        var logs = new CapturingLoggerProvider();
        await using var app = new MediaApp(Servers.Servers);
        using var factory = app.WithWebHostBuilder(b => Microsoft.AspNetCore.Hosting.WebHostBuilderExtensions.ConfigureLogging(b, l => l.AddProvider(logs).SetMinimumLevel(LogLevel.Trace)));
        using var ada = factory.CreateClient();
        var token = DevTokens.For(Ada);
        ada.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);

        var id = await TestFiles.UploadedIdAsync(ada, TestFiles.Text("secret-content-xyzzy"), "text/plain", "../../etc/secret:name-plugh?.txt");
        var file = await ada.GetFromJsonAsync<JsonElement>($"/files/{id}");
        await Eventually.UntilAsync(async () => (await ada.GetFromJsonAsync<JsonElement>($"/files/{id}")).GetProperty("textStatus").GetString() != "pending", "indexed");
        await ada.GetByteArrayAsync($"/files/{id}/content");

        Assert.Equal("secret_name-plugh_.txt", file.GetProperty("name").GetString());
        Assert.DoesNotContain(logs.Messages, m => m.Contains("xyzzy", StringComparison.Ordinal) || m.Contains("plugh", StringComparison.Ordinal) || m.Contains(token, StringComparison.Ordinal));
    }

    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Capturing(Messages);

        public void Dispose()
        {
        }

        private sealed class Capturing(System.Collections.Concurrent.ConcurrentQueue<string> messages) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                messages.Enqueue(formatter(state, exception) + " " + exception);
        }
    }
}
