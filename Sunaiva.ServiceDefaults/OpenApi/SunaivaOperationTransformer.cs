using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Sunaiva.ServiceDefaults.OpenApi;

/// <summary>
/// Per operation, from endpoint metadata: the bearer requirement (with the roles it needs), the <c>Idempotency-Key</c>
/// header, webhook markings, examples, and plain descriptions and examples of the standard problem responses.
/// </summary>
internal sealed class SunaivaOperationTransformer(IAuthorizationPolicyProvider policies) : IOpenApiOperationTransformer
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly Dictionary<string, string> ProblemDescriptions = new(StringComparer.Ordinal)
    {
        ["400"] = "The request is invalid (body, query, route value or header); the problem's detail says which.",
        ["401"] = "No bearer token, or it is invalid or expired.",
        ["403"] = "The token is valid but lacks the role this endpoint needs.",
        ["404"] = "Not found (or not visible to this caller).",
        ["409"] = "Conflicts with an earlier request (an id or key already used for something else).",
        ["413"] = "The body is too large.",
        ["415"] = "The body's content type is not accepted.",
        ["422"] = "Understood but refused (an Idempotency-Key reused for another request, or a provider's refusal).",
        ["429"] = "Too many requests; retry after the Retry-After header.",
        ["502"] = "An upstream provider failed to answer; retry later.",
        ["503"] = "A dependency is down or not configured; retry after the Retry-After header when present.",
        ["504"] = "An upstream provider did not answer within the deadline.",
    };

    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = (IReadOnlyList<object>)context.Description.ActionDescriptor.EndpointMetadata;
        var path = "/" + (context.Description.RelativePath ?? string.Empty).TrimStart('/');

        var access = EndpointAccess.From(metadata, policies);
        if (access.RequiresToken)
        {
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SunaivaDocumentTransformer.BearerScheme, context.Document)] = [.. access.Roles] }];
            if (access.Roles.Count > 0)
            {
                operation.Description = Append(operation.Description, $"Requires role: {string.Join(", ", access.Roles)}.");
                operation.Extensions ??= new Dictionary<string, IOpenApiExtension>();
                operation.Extensions["x-required-roles"] = new JsonNodeExtension(new JsonArray([.. access.Roles.Select(r => JsonValue.Create(r))]));
            }
        }

        if (metadata.OfType<IdempotencyKeyMetadata>().FirstOrDefault() is { } idempotency)
        {
            operation.Parameters ??= [];
            var existing = operation.Parameters.FirstOrDefault(p => p.In == ParameterLocation.Header
                && string.Equals(p.Name, ApiContractExtensions.IdempotencyKeyHeader, StringComparison.OrdinalIgnoreCase));
            if (existing is not null)
            {
                operation.Parameters.Remove(existing);
            }

            operation.Parameters.Add(new OpenApiParameter
            {
                Name = ApiContractExtensions.IdempotencyKeyHeader,
                In = ParameterLocation.Header,
                Required = false,
                Description = idempotency.Description,
                Schema = new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = 200 },
                Example = JsonValue.Create("3f1c2a9e-7b4d-4c55-9e1a-2b8f6d0c4e71"),
            });
        }

        foreach (var header in metadata.OfType<ApiHeaderMetadata>())
        {
            operation.Parameters ??= [];
            if (!operation.Parameters.Any(p => p.In == ParameterLocation.Header && string.Equals(p.Name, header.Name, StringComparison.OrdinalIgnoreCase)))
            {
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = header.Name,
                    In = ParameterLocation.Header,
                    Required = header.Required,
                    Description = header.Description,
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                });
            }
        }

        if (metadata.OfType<ApiSecuritySchemeMetadata>().FirstOrDefault() is { } own)
        {
            var document = context.Document!;
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[own.Scheme] = new OpenApiSecurityScheme { Type = SecuritySchemeType.Http, Scheme = "bearer", Description = own.Description };
            operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(own.Scheme, document)] = [] }];
        }

        if (path.StartsWith("/webhooks/", StringComparison.Ordinal))
        {
            // A webhook is called by a provider (the document's 3.1 `webhooks` section is for calls this API makes, so it stays a path).
            operation.Extensions ??= new Dictionary<string, IOpenApiExtension>();
            operation.Extensions["x-webhook"] = new JsonNodeExtension(new JsonObject
            {
                ["caller"] = path["/webhooks/".Length..].Split('/')[0],
                ["authentication"] = "provider signature (never a bearer token)",
            });
            operation.Description = Append(operation.Description, "Webhook: called by the provider, authenticated by its signature; not for client apps.");
        }

        foreach (var example in metadata.OfType<ApiExampleMetadata>())
        {
            var node = JsonSerializer.SerializeToNode(example.Example, example.Example.GetType(), Json);
            if (example.StatusCode is null)
            {
                foreach (var media in operation.RequestBody?.Content?.Values ?? [])
                {
                    media.Example = node?.DeepClone();
                }
            }
            else if (operation.Responses?.TryGetValue(example.StatusCode.Value.ToString(CultureInfo.InvariantCulture), out var response) == true)
            {
                foreach (var media in response.Content?.Values ?? [])
                {
                    media.Example = node?.DeepClone();
                }
            }
        }

        foreach (var (status, response) in operation.Responses ?? [])
        {
            if (response is not OpenApiResponse concrete || !ProblemDescriptions.TryGetValue(status, out var text))
            {
                continue;
            }

            if (string.IsNullOrEmpty(concrete.Description) || concrete.Description == ReasonPhrase(status))
            {
                concrete.Description = text;
            }

            if (concrete.Content?.TryGetValue(StandardResponsesProvider.ProblemJson, out var problem) == true && problem.Example is null)
            {
                var code = int.Parse(status, CultureInfo.InvariantCulture);
                problem.Example = new JsonObject
                {
                    ["title"] = ReasonPhrase(status),
                    ["status"] = code,
                    ["detail"] = text,
                    ["traceId"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                };
            }
        }

        if (operation.Responses is { Count: > 1 } all)
        {
            // Ascending status order, so the committed document reads (and diffs) the same way every time.
            var ordered = all.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
            all.Clear();
            foreach (var (status, response) in ordered)
            {
                all[status] = response;
            }
        }

        return Task.CompletedTask;
    }

    private static string ReasonPhrase(string status) =>
        Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(int.Parse(status, CultureInfo.InvariantCulture));

    private static string Append(string? description, string line) =>
        string.IsNullOrEmpty(description) ? line : description.Contains(line, StringComparison.Ordinal) ? description : $"{description}\n\n{line}";
}
