using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Xunit;

namespace Sunaiva.Testing;

/// <summary>The MCP C# client over streamable HTTP, as an agent reaches a service's <c>/mcp</c>, and readers of its tool results.</summary>
public static class McpTesting
{
    /// <summary>Connects to <c>/mcp</c> of the client's service with the client's own headers (its bearer token).</summary>
    public static async Task<McpClient> ConnectAsync(HttpClient client) =>
        await McpClient.CreateAsync(new HttpClientTransport(
            new HttpClientTransportOptions { Endpoint = new Uri(client.BaseAddress!, "/mcp"), TransportMode = HttpTransportMode.StreamableHttp },
            client, null, false));

    /// <summary>A successful tool result's value (its structured content, unwrapped from <c>result</c>, or its text as JSON).</summary>
    public static JsonElement Structured(CallToolResult result)
    {
        Assert.False(result.IsError == true, Text(result));
        var root = result.StructuredContent is { } structured ? JsonDocument.Parse(structured.ToString()).RootElement : JsonDocument.Parse(Text(result)).RootElement;
        return root.ValueKind == JsonValueKind.Object && root.TryGetProperty("result", out var inner) ? inner : root;
    }

    /// <summary>The text blocks of a tool result, joined.</summary>
    public static string Text(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(t => t.Text));
}
