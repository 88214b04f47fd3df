using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Sunaiva.ServiceDefaults;

/// <summary>
/// A body that cannot be read (malformed JSON, wrong types, too large) is the client's fault: answer its own
/// 4xx as ProblemDetails instead of the 500 the generic handler would give. The detail names the problem,
/// never the body's content.
/// </summary>
internal sealed class BadRequestExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad)
        {
            return false;
        }

        var status = bad.StatusCode is >= 400 and < 500 ? bad.StatusCode : StatusCodes.Status400BadRequest;
        httpContext.Response.StatusCode = status;
        var binding = bad.Message.StartsWith("Failed to bind parameter", StringComparison.Ordinal) || bad.Message.StartsWith("Required parameter", StringComparison.Ordinal);
        var details = new ProblemDetails
        {
            Status = status,
            Title = status == StatusCodes.Status413PayloadTooLarge ? "Request body too large" : binding ? "Invalid request" : "Invalid request body",
            Detail = bad switch
            {
                { InnerException: JsonException json } => $"The body is not valid JSON for this endpoint{(json.Path is { Length: > 1 } path ? $" (at {path})" : string.Empty)}.",
                _ when bad.Message.Contains("no body was provided", StringComparison.Ordinal) => "A JSON body is required.",
                _ when binding => "A query or route value has the wrong type or is missing.",
                _ => "The request could not be read.",
            },
        };
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = details, Exception = exception });
    }
}
