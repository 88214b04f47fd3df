using System.Net;
using Sunaiva.Testing;

namespace Sunaiva.Voice.Tests;

/// <summary>Voice's MCP tools over streamable HTTP with the MCP C# client, scoped by the bearer token.</summary>
[Collection(ServersCollection.Name)]
public sealed class VoiceMcpTests(LocalServers servers) : IAsyncLifetime
{
    private readonly VoiceApp _app = new(servers);

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task List_voices_gives_a_regions_six_voices_and_speak_returns_a_url_of_spoken_audio()
    {
        using var ada = _app.ClientFor("ada");
        await using var mcp = await McpTesting.ConnectAsync(ada);

        var tools = (await mcp.ListToolsAsync()).Select(t => t.Name).ToHashSet();
        var voices = McpTesting.Structured(await mcp.CallToolAsync("list_voices", new Dictionary<string, object?> { ["region"] = "en-GB" }));
        var unknownRegion = await mcp.CallToolAsync("list_voices", new Dictionary<string, object?> { ["region"] = "xx-XX" });
        var spoken = McpTesting.Structured(await mcp.CallToolAsync("speak", new Dictionary<string, object?> { ["text"] = "Hello from Sunaiva.", ["voiceId"] = "en-GB-male-1" }));
        var unknownVoice = await mcp.CallToolAsync("speak", new Dictionary<string, object?> { ["text"] = "Hello.", ["voiceId"] = "nobody" });

        Assert.Superset(new HashSet<string> { "list_voices", "speak" }, tools);
        Assert.Equal(6, voices.GetArrayLength());
        Assert.Equal(3, voices.EnumerateArray().Count(v => v.GetProperty("gender").GetString() == "female"));
        Assert.All(voices.EnumerateArray(), v => Assert.Equal("en-GB", v.GetProperty("region").GetString()));
        Assert.True(unknownRegion.IsError);
        Assert.True(unknownVoice.IsError);

        var url = new Uri(spoken.GetProperty("url").GetString()!);
        using var anonymous = _app.CreateClient();
        var wav = await anonymous.GetByteArrayAsync(url.PathAndQuery);
        Assert.Equal("RIFF", System.Text.Encoding.ASCII.GetString(wav, 0, 4));
        var samples = Enumerable.Range(0, (wav.Length - 44) / 2).Select(i => Math.Abs((int)BitConverter.ToInt16(wav, 44 + (i * 2))));
        Assert.True(samples.Max() > 1000, "the clip holds speech, not silence");
    }

    [Fact]
    public async Task Mcp_without_a_bearer_token_is_refused()
    {
        using var anonymous = _app.CreateClient();
        var response = await anonymous.PostAsync("/mcp", new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
