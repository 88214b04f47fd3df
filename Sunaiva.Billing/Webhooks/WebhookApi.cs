using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Billing.Webhooks;

public sealed record WebhookAck(string Id, bool Duplicate);

public static partial class WebhookApi
{
    private const int MaxBodyBytes = 1024 * 1024;

    public static RouteHandlerBuilder MapStripeWebhook(this IEndpointRouteBuilder app) =>
        app.MapPost("/webhooks/stripe", ReceiveAsync).AllowAnonymous().WithTags("Webhooks").DisableAntiforgery()
            .Accepts<System.Text.Json.JsonElement>("application/json")
            .WithHeader("Stripe-Signature", "Stripe's signature of the raw body (t=..., v1=...), checked with the webhook signing secret.", required: true)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Stripe webhook: verify the signature, store the event once, acknowledge")
            .WithDescription("Processing happens afterwards, one handler per event type, re-reading the object from Stripe. A duplicate delivery answers 200 with duplicate: true.");

    /// <summary>Verifies, stores once, acknowledges. Processing happens in <see cref="WebhookProcessor"/>.</summary>
    private static async Task<Results<Ok<WebhookAck>, ProblemHttpResult>> ReceiveAsync(
        HttpRequest request,
        StripeGateway gateway,
        IOptions<StripeOptions> options,
        WebhookInbox inbox,
        TimeProvider time,
        ILoggerFactory loggers,
        CancellationToken ct)
    {
        if (!gateway.IsConfigured || !gateway.CanVerifyWebhooks)
        {
            return TypedResults.Problem(statusCode: 503, title: "Billing is not configured",
                detail: "billing is not configured: no Stripe secret key or webhook signing secret is set.");
        }

        var signature = request.Headers["Stripe-Signature"].ToString();
        if (string.IsNullOrEmpty(signature))
        {
            return Rejected("The Stripe-Signature header is missing.");
        }

        if (request.ContentLength > MaxBodyBytes)
        {
            return Rejected("The body is too large.");
        }

        // Also bounds chunked bodies that declare no length: reading past the limit fails with 413 ProblemDetails.
        if (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        string payload;
        using (var reader = new StreamReader(request.Body, Encoding.UTF8))
        {
            payload = await reader.ReadToEndAsync(ct);
        }

        var settings = options.Value;
        var logger = loggers.CreateLogger("Sunaiva.Billing.Webhooks");
        try
        {
            // Only the signature is checked here (Stripe's scheme, with tolerance); the body is kept as sent and
            // read as a plain envelope below, so any API version is stored and handlers re-read the object from Stripe.
            EventUtility.ValidateSignature(payload, signature, settings.WebhookSecret, (long)settings.WebhookTolerance.TotalSeconds,
                time.GetUtcNow().ToUnixTimeSeconds());
        }
        catch (StripeException)
        {
            LogRejected(logger, "signature");
            return Rejected("The signature does not match, or its timestamp is outside the tolerance.");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogRejected(logger, "malformed");
            return Rejected("The body is not a Stripe event.");
        }

        var envelope = StripeEventEnvelope.TryParse(payload);
        if (envelope is null)
        {
            LogRejected(logger, "malformed");
            return Rejected("The body is not a Stripe event.");
        }

        var stored = await inbox.StoreAsync(envelope, "webhook", ct);
        return TypedResults.Ok(new WebhookAck(envelope.Id, !stored));
    }

    private static ProblemHttpResult Rejected(string detail) =>
        TypedResults.Problem(statusCode: 400, title: "Webhook rejected", detail: detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stripe webhook rejected ({Reason})")]
    private static partial void LogRejected(ILogger logger, string reason);
}
