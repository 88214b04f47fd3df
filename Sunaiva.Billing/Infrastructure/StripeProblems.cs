using Microsoft.AspNetCore.Http.HttpResults;
using Stripe;

namespace Sunaiva.Billing.Infrastructure;

/// <summary>Maps Stripe errors to ProblemDetails without echoing request data or keys.</summary>
public static class StripeProblems
{
    /// <summary>The statuses <see cref="From"/> can answer, for the endpoints that call Stripe.</summary>
    public static readonly int[] Statuses = [StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status502BadGateway];

    public static ProblemHttpResult From(StripeException ex) => ex.StripeError?.Type switch
    {
        "idempotency_error" => TypedResults.Problem(statusCode: 409, title: "Idempotency-Key reused",
            detail: "This Idempotency-Key was already used with different parameters."),
        "invalid_request_error" when (int)ex.HttpStatusCode == 404 => TypedResults.Problem(statusCode: 404, title: "Not found at Stripe",
            detail: "Stripe does not know the referenced object."),
        "card_error" or "invalid_request_error" => TypedResults.Problem(statusCode: 422, title: "Stripe refused the request",
            detail: ex.StripeError?.Code is { } code ? $"Stripe error code: {code}." : "Stripe refused the request."),
        _ => TypedResults.Problem(statusCode: 502, title: "Stripe is unavailable", detail: "Stripe did not answer; try again."),
    };
}
