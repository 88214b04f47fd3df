using Dapper;
using Npgsql;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Messaging.Webhooks;

namespace Sunaiva.Billing.Webhooks;

public sealed record RecoveryResult(DateTimeOffset From, DateTimeOffset To, int Seen, int Stored, int ConnectedAccounts);

/// <summary>
/// Pulls events of a time range from Stripe's Events API (30 days kept) into the inbox; known ids are skipped. The
/// platform's events first, then each connected account's (payout.*, account.updated happen there), read with the
/// <c>Stripe-Account</c> header and stored with that account, as a Connect webhook would have delivered them.
/// </summary>
public sealed class EventRecovery(StripeGateway stripe, WebhookInbox inbox, NpgsqlDataSource data)
{
    public async Task<RecoveryResult> RecoverAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var list = new EventListOptions
        {
            Created = new DateRangeOptions { GreaterThanOrEqual = from.UtcDateTime, LessThanOrEqual = to.UtcDateTime },
            Limit = 100,
        };
        var (seen, stored) = await RecoverFromAsync(list, account: null, ct);

        List<string> accounts;
        await using (var connection = await data.OpenConnectionAsync(ct))
        {
            accounts = (await connection.QueryAsync<string>(new CommandDefinition(
                "SELECT stripe_account_id FROM influencers WHERE stripe_account_id IS NOT NULL ORDER BY stripe_account_id", cancellationToken: ct))).ToList();
        }

        foreach (var account in accounts)
        {
            var (accountSeen, accountStored) = await RecoverFromAsync(list, account, ct);
            seen += accountSeen;
            stored += accountStored;
        }

        return new RecoveryResult(from, to, seen, stored, accounts.Count);
    }

    private async Task<(int Seen, int Stored)> RecoverFromAsync(EventListOptions list, string? account, CancellationToken ct)
    {
        int seen = 0, stored = 0;
        var request = account is null ? null : new RequestOptions { StripeAccount = account };
        await foreach (var stripeEvent in new EventService(stripe.Client).ListAutoPagingAsync(list, request, ct))
        {
            seen++;
            if (StripeWebhookProvider.ToDelivery(stripeEvent.ToJson()) is not { } delivery)
            {
                continue;
            }

            if (account is not null)
            {
                delivery = delivery with { Account = account, PartitionKey = delivery.PartitionKey ?? account };
            }

            if ((await inbox.StoreAsync(StripeWebhookProvider.ProviderName, delivery, "recovery", ct)).Stored)
            {
                stored++;
            }
        }

        return (seen, stored);
    }
}
