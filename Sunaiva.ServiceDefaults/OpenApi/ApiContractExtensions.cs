using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;

namespace Sunaiva.ServiceDefaults.OpenApi;

/// <summary>Marks an endpoint that honours the <c>Idempotency-Key</c> header, so the document describes it.</summary>
public sealed record IdempotencyKeyMetadata(string Description);

/// <summary>An example body for an endpoint's request (<see cref="StatusCode"/> null) or for one of its responses.</summary>
public sealed record ApiExampleMetadata(int? StatusCode, object Example);

/// <summary>A request header the endpoint reads itself (not bound as a parameter), for the document.</summary>
public sealed record ApiHeaderMetadata(string Name, bool Required, string Description);

/// <summary>An endpoint authenticated by its own bearer scheme (not the user JWT), e.g. a shared service token.</summary>
public sealed record ApiSecuritySchemeMetadata(string Scheme, string Description);

/// <summary>Endpoint metadata the OpenAPI transformers read: problems, idempotency keys, examples.</summary>
public static class ApiContractExtensions
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    /// <summary>Declares ProblemDetails (<c>application/problem+json</c>) responses for these statuses.</summary>
    public static TBuilder ProducesProblems<TBuilder>(this TBuilder builder, params int[] statusCodes)
        where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statusCodes)
        {
            builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ProblemDetails), ["application/problem+json"]));
        }

        return builder;
    }

    /// <summary>Declares that a retried request with the same <c>Idempotency-Key</c> has its first effect only.</summary>
    public static TBuilder WithIdempotencyKey<TBuilder>(this TBuilder builder, string? description = null)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new IdempotencyKeyMetadata(description
            ?? "Optional. 1 to 200 printable ASCII characters; a retry with the same key repeats the first answer instead of acting twice."));

    /// <summary>Documents a header the handler reads from the request itself.</summary>
    public static TBuilder WithHeader<TBuilder>(this TBuilder builder, string name, string description, bool required = false)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiHeaderMetadata(name, required, description));

    /// <summary>Documents that the endpoint takes a bearer token of its own scheme (checked by the handler, not the JWT middleware).</summary>
    public static TBuilder WithBearerScheme<TBuilder>(this TBuilder builder, string scheme, string description)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiSecuritySchemeMetadata(scheme, description));

    /// <summary>An example request body, shown in the document and the API reference.</summary>
    public static TBuilder WithRequestExample<TBuilder>(this TBuilder builder, object example)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiExampleMetadata(null, example));

    /// <summary>An example body of the response with this status.</summary>
    public static TBuilder WithResponseExample<TBuilder>(this TBuilder builder, int statusCode, object example)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiExampleMetadata(statusCode, example));
}
