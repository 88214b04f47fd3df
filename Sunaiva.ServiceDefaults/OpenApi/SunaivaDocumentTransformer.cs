using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Sunaiva.ServiceDefaults.OpenApi;

/// <summary>The document's title, the bearer scheme, and no server list (a client uses the address it fetched the document from).</summary>
internal sealed class SunaivaDocumentTransformer(ServiceIdentity identity) : IOpenApiDocumentTransformer
{
    public const string BearerScheme = "Bearer";

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        var name = identity.Name.Length == 0 ? identity.Name : char.ToUpperInvariant(identity.Name[0]) + identity.Name[1..];
        document.Info = new OpenApiInfo
        {
            Title = $"Sunaiva {name} API",
            // The contract's version, not the build's: the committed copy must not change with every build.
            Version = context.DocumentName,
            Description =
                $"""
                The {identity.Name} service of Sunaiva integrations.

                Authentication: a JWT bearer token from the conversation backend (`sub` is the user id); in development, `eng/token.sh USER [--ops]` prints one.
                Endpoints marked "Requires role: ops" need a token with the `ops` role. Webhooks authenticate by their provider's signature, never by a token.
                Every error is an RFC 9457 ProblemDetails (`application/problem+json`); a dependency that is down answers 503 with `Retry-After`.
                A write a client may retry takes an `Idempotency-Key` header where the operation lists it.
                """,
        };
        document.Servers = [];
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "JWT",
            Description = "A JWT signed with the service's signing key: `sub` is the user id; `role: ops` for ops endpoints. Development: `eng/token.sh USER [--ops]`.",
        };
        return Task.CompletedTask;
    }
}
