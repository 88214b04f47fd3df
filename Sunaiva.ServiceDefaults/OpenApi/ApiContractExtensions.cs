using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;

namespace Sunaiva.ServiceDefaults.OpenApi;

/// <summary>Marks an endpoint that honours the <c>Idempotency-Key</c> header, so the document describes it.</summary>
public sealed record IdempotencyKeyMetadata(string Description);

/// <summary>An example body for an endpoint's request (<see cref="StatusCode"/> null) or for one of its responses.</summary>
public sealed record ApiExampleMetadata(int? StatusCode, object Example);

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

    /// <summary>An example request body, shown in the document and the API reference.</summary>
    public static TBuilder WithRequestExample<TBuilder>(this TBuilder builder, object example)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiExampleMetadata(null, example));

    /// <summary>An example body of the response with this status.</summary>
    public static TBuilder WithResponseExample<TBuilder>(this TBuilder builder, int statusCode, object example)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ApiExampleMetadata(statusCode, example));
}
