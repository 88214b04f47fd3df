using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Billing.Subscriptions;

/// <summary>What <c>GET /billing/subscription</c> answers.</summary>
public sealed record SubscriptionView(
    string SubscriptionId,
    string Status,
    string? Plan,
    string? Currency,
    long? UnitAmount,
    string? Interval,
    DateTime? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    DateTime? GraceUntil,
    bool HasAccess,
    IReadOnlyList<string> Entitlements);

internal sealed record SubscriptionRow(
    string StripeSubscriptionId,
    string StripeCustomerId,
    string? UserId,
    string Status,
    string? PriceId,
    string? Plan,
    string? Currency,
    long? UnitAmount,
    string? Interval,
    DateTime? CurrentPeriodEnd,
    bool CancelAtPeriodEnd,
    DateTime? GraceUntil,
    DateTime? PaymentFailedAt,
    DateTime? EndedAt);

public sealed record SubscriptionChanged(string SubscriptionId, string UserId, string Status, string? Plan);

/// <summary>The local mirror of Stripe subscriptions and the access it grants.</summary>
public sealed class SubscriptionStore(NpgsqlDataSource dataSource, EventOutbox outbox, IOptions<StripeOptions> options, TimeProvider time)
{
    private const string Columns = """
        stripe_subscription_id AS stripesubscriptionid, stripe_customer_id AS stripecustomerid, user_id AS userid, status,
        price_id AS priceid, plan, currency, unit_amount AS unitamount, interval, current_period_end AS currentperiodend,
        cancel_at_period_end AS cancelatperiodend, grace_until AS graceuntil, payment_failed_at AS paymentfailedat, ended_at AS endedat
        """;

    private static readonly HashSet<string> ActiveStatuses = ["active", "trialing"];
    private static readonly HashSet<string> EndedStatuses = ["canceled", "incomplete_expired", "unpaid"];

    public async Task<SubscriptionView?> GetViewAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QueryFirstOrDefaultAsync<SubscriptionRow>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM billing_subscriptions WHERE user_id = @userId
            ORDER BY (status IN ('active','trialing','past_due')) DESC, created_at DESC LIMIT 1
            """,
            new { userId }, cancellationToken: ct));
        if (row is null)
        {
            return null;
        }

        var hasAccess = HasAccess(row.Status, row.GraceUntil, time.GetUtcNow());
        var entitlements = hasAccess && row.Plan is not null && options.Value.Plans.TryGetValue(row.Plan, out var plan) ? plan.Entitlements : [];
        return new SubscriptionView(row.StripeSubscriptionId, row.Status, row.Plan, row.Currency, row.UnitAmount, row.Interval,
            StripeDates.OrNull(row.CurrentPeriodEnd), row.CancelAtPeriodEnd, row.GraceUntil, hasAccess, entitlements);
    }

    public static bool HasAccess(string status, DateTime? graceUntil, DateTimeOffset now) =>
        ActiveStatuses.Contains(status) || (status == "past_due" && graceUntil is { } until && until > now.UtcDateTime);

    /// <summary>
    /// Serialises work on one subscription across handlers and replicas for the rest of the transaction,
    /// so a fresh read from Stripe is never overwritten by an older one.
    /// </summary>
    public static Task LockAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string subscriptionId, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))", new { key = "sub:" + subscriptionId }, tx, cancellationToken: ct));

    /// <summary>
    /// Writes Stripe's current view of a subscription and publishes activation or cancellation once.
    /// The caller holds <see cref="LockAsync"/> for this subscription since before it read it from Stripe.
    /// </summary>
    public async Task<SubscriptionChanged?> UpsertAsync(NpgsqlConnection connection, NpgsqlTransaction tx, global::Stripe.Subscription subscription, string? userId, CancellationToken ct)
    {
        var previous = await connection.QuerySingleOrDefaultAsync<SubscriptionRow>(new CommandDefinition(
            $"SELECT {Columns} FROM billing_subscriptions WHERE stripe_subscription_id = @id", new { id = subscription.Id }, tx, cancellationToken: ct));
        var item = subscription.Items?.Data?.FirstOrDefault();
        var priceId = item?.Price?.Id;
        var plan = options.Value.PlanForPrice(priceId)?.Name;
        userId ??= previous?.UserId;
        var now = time.GetUtcNow();
        var active = ActiveStatuses.Contains(subscription.Status);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO billing_subscriptions (stripe_subscription_id, stripe_customer_id, user_id, status, price_id, plan, currency, unit_amount,
                interval, current_period_end, cancel_at_period_end, ended_at, created_at, updated_at)
            VALUES (@id, @customer, @userId, @status, @priceId, @plan, @currency, @unitAmount, @interval, @periodEnd, @cancelAtPeriodEnd, @endedAt, @createdAt, @now)
            ON CONFLICT (stripe_subscription_id) DO UPDATE SET
                user_id = COALESCE(EXCLUDED.user_id, billing_subscriptions.user_id), status = EXCLUDED.status, price_id = EXCLUDED.price_id,
                plan = EXCLUDED.plan, currency = EXCLUDED.currency, unit_amount = EXCLUDED.unit_amount, interval = EXCLUDED.interval,
                current_period_end = EXCLUDED.current_period_end, cancel_at_period_end = EXCLUDED.cancel_at_period_end,
                ended_at = EXCLUDED.ended_at, updated_at = EXCLUDED.updated_at,
                grace_until = CASE WHEN @active THEN NULL ELSE billing_subscriptions.grace_until END,
                payment_failed_at = CASE WHEN @active THEN NULL ELSE billing_subscriptions.payment_failed_at END
            """,
            new
            {
                id = subscription.Id,
                customer = subscription.CustomerId,
                userId,
                status = subscription.Status,
                priceId,
                plan,
                currency = subscription.Currency,
                unitAmount = item?.Price?.UnitAmount,
                interval = item?.Price?.Recurring?.Interval,
                periodEnd = item is null ? null : StripeDates.OrNull(item.CurrentPeriodEnd),
                cancelAtPeriodEnd = subscription.CancelAtPeriodEnd,
                endedAt = StripeDates.OrNull(subscription.EndedAt),
                createdAt = StripeDates.OrNull(subscription.Created) ?? now.UtcDateTime,
                now,
                active,
            },
            tx,
            cancellationToken: ct));

        if (userId is null)
        {
            return null;
        }

        var changed = new SubscriptionChanged(subscription.Id, userId, subscription.Status, plan);

        // Activation was announced only if the row was active *and had a user*: a subscription mirrored before its user was
        // known announces it now, in the transaction that links the user (the outbox id keeps it to once).
        var wasActive = previous is { UserId: not null } && (ActiveStatuses.Contains(previous.Status) || previous.Status == "past_due");
        if (active && !wasActive)
        {
            await outbox.AddAsync(connection, tx, EventTypes.SubscriptionActivated, changed, $"subscription.activated:{subscription.Id}", ct);
        }
        else if (EndedStatuses.Contains(subscription.Status) && (previous is null || !EndedStatuses.Contains(previous.Status)))
        {
            await outbox.AddAsync(connection, tx, EventTypes.SubscriptionCanceled, changed, $"subscription.canceled:{subscription.Id}", ct);
        }

        return changed;
    }

    /// <summary>
    /// Links a customer's subscriptions that were mirrored before their user was known, and announces each live one
    /// (<c>subscription.activated</c>, once per subscription) in the caller's transaction, the one that links the user.
    /// </summary>
    public async Task LinkUserAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string customerId, string userId, CancellationToken ct)
    {
        var linked = await connection.QueryAsync<(string Id, string Status, string? Plan)>(new CommandDefinition(
            """
            UPDATE billing_subscriptions SET user_id = @userId, updated_at = @now
            WHERE stripe_customer_id = @customerId AND user_id IS NULL
            RETURNING stripe_subscription_id, status, plan
            """,
            new { customerId, userId, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        foreach (var (id, status, plan) in linked)
        {
            if (ActiveStatuses.Contains(status) || status == "past_due")
            {
                await outbox.AddAsync(connection, tx, EventTypes.SubscriptionActivated, new SubscriptionChanged(id, userId, status, plan), $"subscription.activated:{id}", ct);
            }
        }
    }

    /// <summary>A failed renewal: past due with a grace period that keeps access while Stripe retries.</summary>
    public async Task<(string? UserId, bool FirstFailure)> MarkPaymentFailedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string subscriptionId, CancellationToken ct)
    {
        await LockAsync(connection, tx, subscriptionId, ct);
        var now = time.GetUtcNow();
        var row = await connection.QuerySingleOrDefaultAsync<SubscriptionRow>(new CommandDefinition(
            $"SELECT {Columns} FROM billing_subscriptions WHERE stripe_subscription_id = @subscriptionId FOR UPDATE", new { subscriptionId }, tx, cancellationToken: ct));
        if (row is null)
        {
            return (null, false);
        }

        var first = row.PaymentFailedAt is null;
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE billing_subscriptions SET
                status = CASE WHEN status IN ('active','trialing') THEN 'past_due' ELSE status END,
                payment_failed_at = COALESCE(payment_failed_at, @now),
                grace_until = COALESCE(grace_until, @graceUntil),
                updated_at = @now
            WHERE stripe_subscription_id = @subscriptionId
            """,
            new { subscriptionId, now, graceUntil = now + options.Value.GracePeriod }, tx, cancellationToken: ct));
        return (row.UserId, first);
    }

    public async Task<string?> CustomerIdAsync(string subscriptionId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT stripe_customer_id FROM billing_subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId }, cancellationToken: ct));
    }

    public async Task<string?> UserIdAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string subscriptionId, CancellationToken ct) =>
        await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT user_id FROM billing_subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId }, tx, cancellationToken: ct));
}
