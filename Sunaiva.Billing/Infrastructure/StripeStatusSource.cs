using Microsoft.Extensions.Options;
using Sunaiva.ServiceDefaults.Ops;

namespace Sunaiva.Billing.Infrastructure;

/// <summary>Reports Stripe in <c>/ops/status</c>: configured or not (then billing answers 503), and where it points.</summary>
public sealed class StripeStatusSource(IOptionsMonitor<StripeOptions> options) : IProviderStatusSource
{
    public IEnumerable<ProviderStatus> GetStatuses()
    {
        var stripe = options.CurrentValue;
        var mode = stripe.SecretKey switch
        {
            { } key when key.StartsWith("sk_live_", StringComparison.Ordinal) || key.StartsWith("rk_live_", StringComparison.Ordinal) => "live",
            { Length: > 0 } => "test",
            _ => null,
        };
        yield return mode is null
            ? new ProviderStatus("payments", "stripe", "not-configured", "no stripe-secret-key: billing endpoints answer 503")
            : new ProviderStatus("payments", "stripe", "configured",
                $"{mode} mode, {stripe.ApiBase}, webhooks {(string.IsNullOrEmpty(stripe.WebhookSecret) ? "not verified (no stripe-webhook-secret)" : "verified")}, {stripe.Plans.Count} plans");
    }
}
