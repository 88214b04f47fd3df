using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Sunaiva.AppHost.Tests;

/// <summary>
/// The file vault through the AppHost: an upload or a file picked in Google Drive (the fake Google the fixture points Media at)
/// becomes searchable and readable by AI agents over MCP, for its owner alone.
/// </summary>
[Collection(SunaivaAppCollection.Name)]
public sealed class FileVaultTests(SunaivaAppFixture fixture)
{
    [Fact]
    public async Task An_uploaded_note_is_found_by_search_and_read_over_mcp_by_its_owner_and_by_no_one_else()
    {
        var owner = "vault-" + Guid.NewGuid().ToString("N")[..8];
        var word = "zq" + Guid.NewGuid().ToString("N")[..10]; // a word no other test's file holds
        var text = $"Packing list for the lighthouse trip: {word}, rope, lantern and a thermos of tea.";
        using var client = fixture.Client(ResourceNames.Media, owner);
        using var stranger = fixture.Client(ResourceNames.Media, "stranger-" + owner);
        using var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        part.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        form.Add(part, "file", "packing-list.txt");
        var created = await client.PostAsync("/files", form);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        // Extraction runs as durable work; the file is found by a word of its text once it is indexed.
        var found = await Eventually.Get(() => client.GetFromJsonAsync<JsonElement>($"/search?q={word}"), r => r.GetProperty("items").GetArrayLength() > 0);
        var hit = Assert.Single(found.GetProperty("items").EnumerateArray());
        Assert.Equal(id, hit.GetProperty("id").GetString());
        Assert.Equal("packing-list.txt", hit.GetProperty("name").GetString());
        Assert.Contains($"**{word}**", hit.GetProperty("snippet").GetString(), StringComparison.Ordinal);

        await using (var mcp = await McpTesting.ConnectAsync(client))
        {
            var search = McpTesting.Structured(await mcp.CallToolAsync("search_files", new Dictionary<string, object?> { ["query"] = word }));
            Assert.Equal(id, Assert.Single(search.GetProperty("items").EnumerateArray()).GetProperty("id").GetString());
            var read = McpTesting.Structured(await mcp.CallToolAsync("read_file", new Dictionary<string, object?> { ["fileId"] = id, ["offset"] = 0, ["length"] = 12 }));
            Assert.Equal(text[..12], read.GetProperty("text").GetString());
        }

        // Someone else finds nothing and reaches nothing, over HTTP or MCP.
        Assert.Empty((await stranger.GetFromJsonAsync<JsonElement>($"/search?q={word}")).GetProperty("items").EnumerateArray());
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/files/{id}")).StatusCode);
        await using (var strangerMcp = await McpTesting.ConnectAsync(stranger))
        {
            var theirs = McpTesting.Structured(await strangerMcp.CallToolAsync("search_files", new Dictionary<string, object?> { ["query"] = word }));
            Assert.Empty(theirs.GetProperty("items").EnumerateArray());
            var read = await strangerMcp.CallToolAsync("read_file", new Dictionary<string, object?> { ["fileId"] = id, ["offset"] = 0, ["length"] = 12 });
            Assert.True(read.IsError);
            Assert.DoesNotContain(word, McpTesting.Text(read), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_Google_Doc_picked_in_Drive_is_imported_found_and_read_over_mcp_by_its_owner_alone_and_goes_when_disconnected()
    {
        var owner = "drive-" + Guid.NewGuid().ToString("N")[..8];
        var account = owner + "@gmail.example";
        var word = "zq" + Guid.NewGuid().ToString("N")[..10];
        var text = $"Tide tables for the lighthouse: high water at seven, {word} at the north pier.";
        using var client = fixture.Client(ResourceNames.Media, owner);
        using var stranger = fixture.Client(ResourceNames.Media, "stranger-" + owner);
        using var browser = fixture.Client(ResourceNames.Media);

        // OAuth: the consent at (fake) Google sends the browser back to Media's callback with the code and the state.
        var start = await (await client.PostAsync("/drive/connect", null)).Content.ReadFromJsonAsync<JsonElement>();
        var callback = fixture.Google.Consent(start.GetProperty("authorizationUrl").GetString()!, account);
        var connected = await browser.GetAsync(callback.PathAndQuery);
        Assert.Equal(HttpStatusCode.OK, connected.StatusCode);
        var connection = await Eventually.Get(() => client.GetFromJsonAsync<JsonElement>("/drive/connection"), c => c.GetProperty("lastSyncAt").ValueKind != JsonValueKind.Null);
        Assert.Equal(account, connection.GetProperty("email").GetString());

        var doc = fixture.Google.AddFile(account, "Lighthouse notes", "application/vnd.google-apps.document", Encoding.UTF8.GetBytes(text));
        var queued = await client.PostAsJsonAsync("/drive/imports", new { fileIds = new[] { doc.Id } });
        Assert.Equal(HttpStatusCode.Accepted, queued.StatusCode);
        var imports = await Eventually.Get(
            () => client.GetFromJsonAsync<JsonElement[]>("/drive/imports"),
            list => list!.Any(i => i.GetProperty("driveFileId").GetString() == doc.Id && i.GetProperty("status").GetString() == "imported"));
        var fileId = imports!.Single(i => i.GetProperty("driveFileId").GetString() == doc.Id).GetProperty("vaultFileId").GetString();

        var found = await Eventually.Get(() => client.GetFromJsonAsync<JsonElement>($"/search?q={word}"), r => r.GetProperty("items").GetArrayLength() > 0);
        var hit = Assert.Single(found.GetProperty("items").EnumerateArray());
        Assert.Equal(fileId, hit.GetProperty("id").GetString());
        Assert.Equal("Lighthouse notes.txt", hit.GetProperty("name").GetString());
        Assert.Equal(text, await client.GetStringAsync($"/files/{fileId}/content"));
        await using (var mcp = await McpTesting.ConnectAsync(client))
        {
            var read = McpTesting.Structured(await mcp.CallToolAsync("read_file", new Dictionary<string, object?> { ["fileId"] = fileId, ["offset"] = 0, ["length"] = 11 }));
            Assert.Equal(text[..11], read.GetProperty("text").GetString());
        }

        // Someone else sees no connection, no import, no file.
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync("/drive/connection")).StatusCode);
        Assert.Empty(await stranger.GetFromJsonAsync<JsonElement[]>("/drive/imports") ?? []);
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/files/{fileId}")).StatusCode);
        Assert.Empty((await stranger.GetFromJsonAsync<JsonElement>($"/search?q={word}")).GetProperty("items").EnumerateArray());

        // Disconnecting revokes the grant at Google (durable work) and, as asked, removes what was imported.
        var disconnected = await client.DeleteAsync("/drive/connection?deleteImported=true");
        Assert.Equal(HttpStatusCode.NoContent, disconnected.StatusCode);
        await Eventually.UntilAsync(() => Task.FromResult(!fixture.Google.HasLiveGrant(account)), "the revoke at Google");
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/drive/connection")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/files/{fileId}")).StatusCode);
        Assert.Empty((await client.GetFromJsonAsync<JsonElement>($"/search?q={word}")).GetProperty("items").EnumerateArray());
    }
}
