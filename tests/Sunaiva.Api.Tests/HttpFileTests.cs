using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Sunaiva.Testing;

namespace Sunaiva.Api.Tests;

/// <summary>
/// Every request of each service's .http file is sent to the service (in memory, on the real local servers) and
/// must answer a status its committed document lists; every documented operation has a request in the file.
/// </summary>
[Collection(ServiceAppsCollection.Name)]
public sealed partial class HttpFileTests(ServiceApps apps)
{
    public static TheoryData<string> Services => new(ServiceApps.Names);

    [Theory]
    [MemberData(nameof(Services))]
    public void Http_file_has_a_request_for_every_documented_operation(string service)
    {
        var requests = Parse(service).Select(r => (r.Method, Path: r.Path)).ToList();
        var operations = Operations(Document(service)).ToList();

        var missing = operations.Where(o => !requests.Any(r => r.Method == o.Method && o.Pattern.IsMatch(r.Path))).Select(o => $"{o.Method} {o.Template}").ToList();

        Assert.True(missing.Count == 0, $"{HttpFile(service)} has no request for: {string.Join(", ", missing)}");
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Every_request_of_the_http_file_answers_a_documented_status(string service)
    {
        var operations = Operations(Document(service)).ToList();
        using var client = apps.Client(service);
        var wrong = new List<string>();
        var requests = Parse(service);
        Assert.True(requests.Count > operations.Count, $"{HttpFile(service)}: {requests.Count} requests for {operations.Count} operations");

        foreach (var request in requests)
        {
            using var message = new HttpRequestMessage(new HttpMethod(request.Method), request.Path + request.Query);
            string? contentType = null;
            foreach (var (name, value) in request.Headers)
            {
                if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
                {
                    contentType = value;
                }
                else
                {
                    message.Headers.TryAddWithoutValidation(name, value);
                }
            }

            if (request.Body.Length > 0 || contentType is not null)
            {
                var body = contentType?.StartsWith("multipart/", StringComparison.Ordinal) == true ? request.Body.ReplaceLineEndings("\r\n") + "\r\n" : request.Body;
                message.Content = new StringContent(body, Encoding.UTF8);
                message.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType ?? "application/json");
            }

            using var response = await client.SendAsync(message);
            var status = ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (request.Path == "/openapi/v1.json")
            {
                if (status != "200")
                {
                    wrong.Add($"{request.Method} {request.Path}: {status}");
                }

                continue;
            }

            var operation = operations.FirstOrDefault(o => o.Method == request.Method && o.Pattern.IsMatch(request.Path));
            if (operation.Responses is null || !operation.Responses.ContainsKey(status))
            {
                wrong.Add($"{request.Method} {request.Path}: {status} {await response.Content.ReadAsStringAsync()}");
            }
        }

        Assert.True(wrong.Count == 0, "Undocumented answers: " + string.Join("; ", wrong));
    }

    private static string HttpFile(string service) => $"Sunaiva.{char.ToUpperInvariant(service[0])}{service[1..]}/Sunaiva.{char.ToUpperInvariant(service[0])}{service[1..]}.http";

    private static JsonObject Document(string service) =>
        JsonNode.Parse(File.ReadAllText(RepositoryFiles.PathOf($"docs/api/{service}.json")))!.AsObject();

    private static IEnumerable<(string Method, string Template, Regex Pattern, JsonObject Responses)> Operations(JsonObject document) =>
        document["paths"]!.AsObject().SelectMany(p => p.Value!.AsObject()
            .Where(o => o.Value is JsonObject op && op.ContainsKey("responses"))
            .Select(o => (o.Key.ToUpperInvariant(), p.Key,
                new Regex("^" + RouteParameter().Replace(Regex.Escape(p.Key).Replace(@"\{", "{", StringComparison.Ordinal), "[^/]+") + "/?$"),
                o.Value!["responses"]!.AsObject())));

    /// <summary>The requests of a .http file, with its variables filled in (tokens minted for the test signing key).</summary>
    private static List<HttpFileRequest> Parse(string service)
    {
        var lines = File.ReadAllLines(RepositoryFiles.PathOf(HttpFile(service)));
        var variables = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            if (Variable().Match(line) is { Success: true } v)
            {
                variables[v.Groups[1].Value] = v.Groups[2].Value.Trim();
            }
        }

        variables[service] = string.Empty;
        variables["token"] = DevTokens.For("user-1");
        variables["opsToken"] = DevTokens.For("ops-1", ops: true);
        variables["internalToken"] = "internal-events-test-token-0123456789";
        string Fill(string text) => Placeholder().Replace(text, m => variables.TryGetValue(m.Groups[1].Value, out var value) ? value : m.Value);

        var requests = new List<HttpFileRequest>();
        foreach (var block in string.Join('\n', lines).Split("\n###", StringSplitOptions.None).Skip(1))
        {
            var rows = block.Split('\n').Skip(1).Where(l => !l.StartsWith('#') && !Variable().IsMatch(l)).ToList();
            var start = rows.FindIndex(l => l.Trim().Length > 0);
            if (start < 0)
            {
                continue;
            }

            var first = Fill(rows[start]).Split(' ', 2);
            var url = first[1].Trim();
            var query = url.Contains('?', StringComparison.Ordinal) ? url[url.IndexOf('?', StringComparison.Ordinal)..] : string.Empty;
            var headers = new List<(string, string)>();
            var i = start + 1;
            for (; i < rows.Count && rows[i].Trim().Length > 0; i++)
            {
                var colon = rows[i].IndexOf(':', StringComparison.Ordinal);
                headers.Add((rows[i][..colon].Trim(), Fill(rows[i][(colon + 1)..].Trim())));
            }

            var body = string.Join('\n', rows.Skip(i + 1)).Trim();
            requests.Add(new HttpFileRequest(first[0], url[..(url.Length - query.Length)], query, headers, Fill(body)));
        }

        return requests;
    }

    private sealed record HttpFileRequest(string Method, string Path, string Query, List<(string Name, string Value)> Headers, string Body);

    [GeneratedRegex(@"^@(\w+)\s*=\s*(.*)$")]
    private static partial Regex Variable();

    [GeneratedRegex(@"\{\{(\w+)\}\}")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"\\?\{[^}/]+\}")]
    private static partial Regex RouteParameter();
}
