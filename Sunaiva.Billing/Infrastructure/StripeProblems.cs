using Microsoft.AspNetCore.Http.HttpResults;
using Stripe;

namespace Sunaiva.Billing.Infrastructure;

/// <summary>
/// Maps Stripe errors to ProblemDetails and logs them. Only Stripe's <c>type</c>, <c>code</c>, <c>param</c>, <c>decline_code</c>
/// and request id are logged and returned: never the key, the request or Stripe's message (it may echo card or key fragments).
/// </summary>
public static partial class StripeProblems
{
    /// <summary>The statuses <see cref="From"/> can answer, for the endpoints that call Stripe.</summary>
    public static readonly int[] Statuses = [StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status503ServiceUnavailable];

    public static ProblemHttpResult From(StripeException ex, HttpContext http, string operation)
    {
        Log(Logger(http), ex, operation);
        var error = ex.StripeError;
        var status = error?.Type switch
        {
            "idempotency_error" => 409,
            "invalid_request_error" when (int)ex.HttpStatusCode == 404 => 404,
            "card_error" or "invalid_request_error" => 422,
            _ => 503,
        };
        var (title, detail) = status switch
        {
            409 => ("Idempotency-Key reused", "This Idempotency-Key was already used with different parameters."),
            404 => ("Not found at Stripe", Describe(error, "Stripe does not know the referenced object.")),
            422 => ("Stripe refused the request", Describe(error, "Stripe refused the request.")),
            _ => ("Stripe is unavailable", "Stripe did not answer; try again."),
        };
        if (status == 503)
        {
            http.Response.Headers.RetryAfter = (int)ex.HttpStatusCode == 429 ? "5" : "30";
        }

        var extensions = new Dictionary<string, object?>
        {
            ["stripeErrorType"] = error?.Type,
            ["stripeErrorCode"] = error?.Code,
            ["stripeErrorParam"] = error?.Param,
            ["stripeDeclineCode"] = error?.DeclineCode,
            ["stripeRequestId"] = ex.StripeResponse?.RequestId,
        };
        return TypedResults.Problem(statusCode: status, title: title, detail: detail, extensions: extensions);
    }

    /// <summary>Stripe could not be reached or did not answer in time: 503 with Retry-After.</summary>
    public static ProblemHttpResult Unavailable(HttpContext http, Exception ex, string operation)
    {
        LogUnreachable(Logger(http), operation, ex.GetType().Name);
        http.Response.Headers.RetryAfter = "30";
        return TypedResults.Problem(statusCode: 503, title: "Stripe is unavailable", detail: "Stripe did not answer; try again.");
    }

    private static ILogger Logger(HttpContext http) => http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Sunaiva.Billing.Stripe");

    /// <summary>Logs what Stripe said was wrong, in terms safe to log.</summary>
    public static void Log(ILogger logger, StripeException ex, string operation) =>
        LogStripeError(logger, operation, (int)ex.HttpStatusCode, ex.StripeError?.Type, ex.StripeError?.Code, ex.StripeError?.Param,
            ex.StripeError?.DeclineCode, ex.StripeResponse?.RequestId);

    private static string Describe(StripeError? error, string fallback)
    {
        if (error?.Code is null && error?.Param is null)
        {
            return fallback;
        }

        var code = error.Code is { } c ? $"Stripe error code: {c}" : $"Stripe error: {error.Type}";
        return error.Param is { } param ? $"{code} (parameter {param})." : code + ".";
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Stripe refused {Operation}: HTTP {Status}, type {Type}, code {Code}, param {Param}, decline code {DeclineCode}, request {RequestId}")]
    private static partial void LogStripeError(ILogger logger, string operation, int status, string? type, string? code, string? param, string? declineCode, string? requestId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stripe unreachable during {Operation} ({Error})")]
    private static partial void LogUnreachable(ILogger logger, string operation, string error);
}
