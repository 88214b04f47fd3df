using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Messaging.Webhooks;

namespace Sunaiva.Billing.Webhooks;

public sealed record RecoveryResult(DateTimeOffset From, DateTimeOffset To, int Seen, int Stored);

/// <summary>Pulls events of a time range from Stripe's Events API (30 days kept) into the inbox; known ids are skipped.</summary>
public sealed class EventRecovery(StripeGateway stripe, WebhookInbox inbox)
{
    public async Task<RecoveryResult> RecoverAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        int seen = 0, stored = 0;
        var list = new EventListOptions
        {
            Created = new DateRangeOptions { GreaterThanOrEqual = from.UtcDateTime, LessThanOrEqual = to.UtcDateTime },
            Limit = 100,
        };
        await foreach (var stripeEvent in new EventService(stripe.Client).ListAutoPagingAsync(list, cancellationToken: ct))
        {
            seen++;
            if (StripeWebhookProvider.ToDelivery(stripeEvent.ToJson()) is { } delivery
                && (await inbox.StoreAsync(StripeWebhookProvider.ProviderName, delivery, "recovery", ct)).Stored)
            {
                stored++;
            }
        }

        return new RecoveryResult(from, to, seen, stored);
    }
}
