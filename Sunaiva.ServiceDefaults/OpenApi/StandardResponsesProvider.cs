using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ApiExplorer;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Sunaiva.ServiceDefaults.OpenApi;

/// <summary>
/// Adds the ProblemDetails responses every endpoint of a kind can give, from its metadata, so no endpoint has to
/// repeat them: 401 and 503 with a bearer token, 403 when roles are required, 429 under a rate limiter, 400 and
/// 415 with a JSON body, 400 for an invalid <c>Idempotency-Key</c>. Runs after the minimal-API provider.
/// </summary>
internal sealed class StandardResponsesProvider(IAuthorizationPolicyProvider policies, IOptions<RateLimiterOptions> rateLimiting) : IApiDescriptionProvider
{
    public const string ProblemJson = "application/problem+json";

    public int Order => 0;

    public void OnProvidersExecuting(ApiDescriptionProviderContext context)
    {
        foreach (var description in context.Results)
        {
            var metadata = description.ActionDescriptor.EndpointMetadata;
            var access = EndpointAccess.From((IReadOnlyList<object>)metadata, policies);
            if (access.RequiresToken)
            {
                Add(description, StatusCodes.Status401Unauthorized);
                if (access.Roles.Count > 0)
                {
                    Add(description, StatusCodes.Status403Forbidden);
                }

                Add(description, StatusCodes.Status503ServiceUnavailable);
            }

            if (EndpointAccess.IsRateLimited((IReadOnlyList<object>)metadata, rateLimiting.Value))
            {
                Add(description, StatusCodes.Status429TooManyRequests);
            }

            if (description.ParameterDescriptions.Any(p => p.Source == BindingSource.Body))
            {
                Add(description, StatusCodes.Status400BadRequest);
                Add(description, StatusCodes.Status415UnsupportedMediaType);
            }

            if (metadata.OfType<IdempotencyKeyMetadata>().Any())
            {
                Add(description, StatusCodes.Status400BadRequest);
            }
        }
    }

    public void OnProvidersExecuted(ApiDescriptionProviderContext context)
    {
    }

    private static void Add(ApiDescription description, int status)
    {
        if (description.SupportedResponseTypes.Any(r => r.StatusCode == status))
        {
            return;
        }

        description.SupportedResponseTypes.Add(new ApiResponseType
        {
            StatusCode = status,
            Type = typeof(ProblemDetails),
            ApiResponseFormats = [new ApiResponseFormat { MediaType = ProblemJson }],
        });
    }
}
