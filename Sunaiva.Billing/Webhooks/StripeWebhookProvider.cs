using Microsoft.Extensions.Options;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Messaging.Webhooks;

namespace Sunaiva.Billing.Webhooks;

/// <summary>
/// Stripe's deliveries at <c>/webhooks/stripe</c>: the <c>Stripe-Signature</c> scheme with its tolerance. Only the
/// signature is checked; the body is kept as sent, so any API version is stored and handlers re-read the object from Stripe.
/// Events of one Stripe customer are processed one at a time (their partition), so two re-reads never race.
/// </summary>
public sealed class StripeWebhookProvider(StripeGateway gateway, IOptions<StripeOptions> options, TimeProvider time) : IWebhookProvider
{
    public const string ProviderName = "stripe";

    public string Name => ProviderName;

    public bool IsConfigured => gateway.IsConfigured && gateway.CanVerifyWebhooks;

    public string NotConfiguredDetail => "billing is not configured: no Stripe secret key or webhook signing secret is set.";

    public WebhookVerification Verify(HttpRequest request, string body)
    {
        var signature = request.Headers["Stripe-Signature"].ToString();
        if (string.IsNullOrEmpty(signature))
        {
            return WebhookVerification.Reject("The Stripe-Signature header is missing.");
        }

        var settings = options.Value;
        try
        {
            EventUtility.ValidateSignature(body, signature, settings.WebhookSecret, (long)settings.WebhookTolerance.TotalSeconds, time.GetUtcNow().ToUnixTimeSeconds());
        }
        catch (StripeException)
        {
            return WebhookVerification.Reject("The signature does not match, or its timestamp is outside the tolerance.");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return WebhookVerification.Reject("The body is not a Stripe event.");
        }

        return ToDelivery(body) is { } delivery ? WebhookVerification.Accept(delivery) : WebhookVerification.Reject("The body is not a Stripe event.");
    }

    /// <summary>The inbox's view of a Stripe event (also used by recovery, which reads events from Stripe's API).</summary>
    public static WebhookDelivery? ToDelivery(string payload)
    {
        var envelope = StripeEventEnvelope.TryParse(payload, out var customer);
        return envelope is null
            ? null
            : new WebhookDelivery(envelope.Id, envelope.Type, envelope.ObjectId, envelope.Account, envelope.ApiVersion,
                new DateTimeOffset(envelope.Created, TimeSpan.Zero), customer ?? envelope.ObjectId ?? envelope.Account, payload);
    }
}
