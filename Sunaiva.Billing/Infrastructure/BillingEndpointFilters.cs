using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Billing.Infrastructure;

/// <summary>Answers 503 ProblemDetails on Stripe-backed endpoints while no Stripe key is configured.</summary>
public static class BillingEndpointFilters
{
    public static TBuilder RequireStripe<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var gateway = context.HttpContext.RequestServices.GetRequiredService<StripeGateway>();
            return gateway.IsConfigured ? await next(context) : NotConfigured();
        }).ProducesProblems(StatusCodes.Status503ServiceUnavailable);

    public static IResult NotConfigured() => TypedResults.Problem(
        statusCode: StatusCodes.Status503ServiceUnavailable,
        title: "Billing is not configured",
        detail: "billing is not configured: no Stripe secret key is set (AppHost parameter stripe-secret-key).");
}
