using Dapper;
using Npgsql;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Referrals;
using Sunaiva.Billing.Subscriptions;
using Sunaiva.Integration;

namespace Sunaiva.Billing.Checkout;

public sealed record BillingCustomer(string UserId, string StripeCustomerId, string? Country, string Currency, bool ReferralSynced);

/// <summary>One Stripe customer per user, created on first need; the referral attribution is copied to its metadata.</summary>
public sealed class CustomerStore(NpgsqlDataSource dataSource, StripeGateway stripe, SubscriptionStore subscriptions, TimeProvider time)
{
    private const string Columns = "user_id AS userid, stripe_customer_id AS stripecustomerid, country, currency, referral_synced AS referralsynced";

    public async Task<BillingCustomer?> GetAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<BillingCustomer>(new CommandDefinition(
            $"SELECT {Columns} FROM billing_customers WHERE user_id = @userId", new { userId }, cancellationToken: ct));
    }

    public async Task<string?> UserIdForCustomerAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string customerId, CancellationToken ct) =>
        await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT user_id FROM billing_customers WHERE stripe_customer_id = @customerId", new { customerId }, tx, cancellationToken: ct));

    /// <summary>The customer as Stripe has it, with its subscriptions expanded: the currency it is fixed to (null until its first
    /// subscription or invoice) and whether it already pays for one.</summary>
    public Task<Customer> GetFromStripeAsync(string customerId, CancellationToken ct) =>
        new CustomerService(stripe.Client).GetAsync(customerId, new CustomerGetOptions { Expand = ["subscriptions"] }, cancellationToken: ct);

    /// <summary>Copies a new attribution to the metadata of the user's existing Stripe customer (if any, once).</summary>
    public async Task SyncReferralAsync(string userId, ReferralAttribution attribution, CancellationToken ct)
    {
        var existing = await GetAsync(userId, ct);
        if (existing is not null && !existing.ReferralSynced && stripe.IsConfigured)
        {
            _ = await GetOrCreateAsync(userId, existing.Country, existing.Currency, attribution, ct);
        }
    }

    /// <summary>Returns the user's customer, creating it in Stripe (idempotently per user) when missing.</summary>
    public async Task<BillingCustomer> GetOrCreateAsync(string userId, string? country, string currency, ReferralAttribution? attribution, CancellationToken ct)
    {
        using var _ = MeteringContext.ForUser(userId);
        var existing = await GetAsync(userId, ct);
        var service = new CustomerService(stripe.Client);
        if (existing is null)
        {
            var metadata = new Dictionary<string, string> { ["user_id"] = userId };
            if (attribution is not null)
            {
                metadata["referral_code"] = attribution.ReferralCode;
            }

            var created = await service.CreateAsync(
                new CustomerCreateOptions { Metadata = metadata, PreferredLocales = null },
                StripeGateway.Idempotent($"customer:{userId}"),
                ct);
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            await using var tx = await connection.BeginTransactionAsync(ct);
            var inserted = await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO billing_customers (user_id, stripe_customer_id, country, currency, referral_synced, created_at)
                VALUES (@userId, @id, @country, @currency, @synced, @at) ON CONFLICT DO NOTHING
                """,
                new { userId, id = created.Id, country, currency, synced = attribution is not null, at = time.GetUtcNow() }, tx, cancellationToken: ct));
            if (inserted == 1)
            {
                // Subscriptions of this customer mirrored before the link belong to the user from now on.
                await subscriptions.LinkUserAsync(connection, tx, created.Id, userId, ct);
            }

            await tx.CommitAsync(ct);
            return (await GetAsync(userId, ct))!;
        }

        if (attribution is not null && !existing.ReferralSynced)
        {
            await service.UpdateAsync(
                existing.StripeCustomerId,
                new CustomerUpdateOptions { Metadata = new Dictionary<string, string> { ["referral_code"] = attribution.ReferralCode } },
                StripeGateway.Idempotent($"customer-referral:{userId}:{attribution.ReferralCode}"),
                ct);
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE billing_customers SET referral_synced = true WHERE user_id = @userId", new { userId }, cancellationToken: ct));
            existing = existing with { ReferralSynced = true };
        }

        return existing;
    }
}
