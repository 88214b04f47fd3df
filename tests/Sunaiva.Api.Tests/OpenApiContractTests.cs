using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc.ApiExplorer;
using Microsoft.Extensions.DependencyInjection;

namespace Sunaiva.Api.Tests;

/// <summary>
/// The API contract cannot drift: each service's OpenAPI document equals the committed docs/api/&lt;service&gt;.json,
/// and every error status an endpoint declares or its code returns is listed in it.
/// </summary>
[Collection(ServiceAppsCollection.Name)]
public sealed class OpenApiContractTests(ServiceApps apps)
{
    private static readonly JsonSerializerOptions Pretty = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static TheoryData<string> Services => new(ServiceApps.Names);

    private static readonly Dictionary<string, string[]> SourceFolders = new(StringComparer.Ordinal)
    {
        ["voice"] = ["Sunaiva.Voice", "Sunaiva.ServiceDefaults"],
        ["billing"] = ["Sunaiva.Billing", "Sunaiva.ServiceDefaults"],
        ["media"] = ["Sunaiva.Media", "Sunaiva.ServiceDefaults"],
        ["engagement"] = ["Sunaiva.Engagement", "Sunaiva.ServiceDefaults"],
    };

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Each_service_serves_the_committed_openapi_document(string service)
    {
        var document = await DocumentAsync(service);

        var problem = RepositoryFiles.CompareOrUpdate($"docs/api/{service}.json", document.ToJsonString(Pretty).ReplaceLineEndings("\n") + "\n");

        Assert.True(problem is null, problem);
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Document_is_openapi_3_1_with_the_bearer_scheme(string service)
    {
        var document = await DocumentAsync(service);

        Assert.StartsWith("3.1", document["openapi"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("bearer", document["components"]?["securitySchemes"]?["Bearer"]?["scheme"]?.GetValue<string>());
        Assert.NotEmpty(document["paths"]!.AsObject());
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Endpoints_needing_a_token_list_bearer_security_401_and_503_and_ops_endpoints_the_ops_role_and_403(string service)
    {
        var document = await DocumentAsync(service);
        var checkedOps = 0;

        foreach (var (path, method, operation) in Operations(document))
        {
            var security = operation["security"]?.AsArray();
            var responses = operation["responses"]!.AsObject();
            if (path.StartsWith("/ops", StringComparison.Ordinal))
            {
                var roles = security?[0]?["Bearer"]?.AsArray().Select(r => r!.GetValue<string>()).ToList();
                Assert.True(roles is not null && roles.Contains("ops"), $"{method} {path} does not require the ops role in the document");
                Assert.True(responses.ContainsKey("403"), $"{method} {path} does not list 403");
                checkedOps++;
            }

            if (security?.Any(r => r?["Bearer"] is not null) == true)
            {
                Assert.True(responses.ContainsKey("401") && responses.ContainsKey("503"), $"{method} {path} needs a JWT but does not list 401 and 503");
            }
        }

        Assert.True(checkedOps > 0, "every service maps ops endpoints (/ops/status, /ops/usage)");
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Every_status_an_endpoint_declares_is_in_the_document(string service)
    {
        var document = await DocumentAsync(service);
        var missing = new List<string>();

        foreach (var (description, path, method) in Descriptions(service))
        {
            var operation = document["paths"]?[path]?[method];
            Assert.True(operation is not null, $"{method} {path} is mapped but not in the document");
            foreach (var produces in description.ActionDescriptor.EndpointMetadata.OfType<IProducesResponseTypeMetadata>())
            {
                if (operation["responses"]?[produces.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)] is null)
                {
                    missing.Add($"{method.ToUpperInvariant()} {path}: {produces.StatusCode}");
                }
            }
        }

        Assert.True(missing.Count == 0, "Declared but not documented: " + string.Join("; ", missing));
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Every_problem_status_the_handler_code_returns_is_in_the_document(string service)
    {
        var document = await DocumentAsync(service);
        var scan = new SourceScan(SourceFolders[service]);
        var missing = new List<string>();
        var scanned = 0;

        foreach (var (description, path, method) in Descriptions(service))
        {
            var handler = description.ActionDescriptor.EndpointMetadata.OfType<MethodInfo>().FirstOrDefault();
            if (handler is null || scan.StatusesOf(handler) is not { } statuses)
            {
                continue;
            }

            scanned++;
            var responses = document["paths"]?[path]?[method]?["responses"]?.AsObject();
            foreach (var status in statuses.Order())
            {
                if (responses is null || !responses.ContainsKey(status.ToString(System.Globalization.CultureInfo.InvariantCulture)))
                {
                    missing.Add($"{method.ToUpperInvariant()} {path} ({handler.DeclaringType?.Name}.{handler.Name}): {status}");
                }
            }
        }

        Assert.True(scanned > 0, "no handler source was found to scan");
        Assert.True(missing.Count == 0,
            "The code returns these statuses, but the document does not list them; declare them on the endpoint with .ProducesProblems(...): " + string.Join("; ", missing));
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Scalar_reference_is_served_in_development(string service)
    {
        using var client = apps.Client(service);

        using var response = await client.GetAsync("/scalar/v1");

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
    }

    private async Task<JsonObject> DocumentAsync(string service)
    {
        using var client = apps.Client(service);
        using var response = await client.GetAsync("/openapi/v1.json");
        response.EnsureSuccessStatusCode();
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    private IEnumerable<(ApiDescription Description, string Path, string Method)> Descriptions(string service) =>
        apps.Services(service).GetRequiredService<IApiDescriptionGroupCollectionProvider>().ApiDescriptionGroups.Items
            .SelectMany(g => g.Items)
            .Where(d => d.HttpMethod is not null)
            .Select(d => (d, "/" + (d.RelativePath ?? string.Empty).Split('?')[0].Trim('/'), d.HttpMethod!.ToLowerInvariant()));

    private static IEnumerable<(string Path, string Method, JsonObject Operation)> Operations(JsonObject document) =>
        document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Where(o => o.Value is JsonObject op && op.ContainsKey("responses")).Select(o => (p.Key, o.Key, o.Value!.AsObject())));
}
