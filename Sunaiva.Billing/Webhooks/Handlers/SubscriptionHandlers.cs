using Npgsql;
using Stripe;
using Sunaiva.Billing.Checkout;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Subscriptions;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Billing.Webhooks.Handlers;

/// <summary>
/// Re-reads a subscription from Stripe (no transaction open) and mirrors it (in the caller's short transaction);
/// shared by the subscription, checkout and invoice handlers. Events of one customer are processed one at a time,
/// so a slower, older read never overwrites a newer one.
/// </summary>
public sealed class SubscriptionSync(StripeGateway stripe, SubscriptionStore subscriptions, CustomerStore customers)
{
    public Task<Subscription> FetchAsync(string subscriptionId, CancellationToken ct) =>
        new SubscriptionService(stripe.Client).GetAsync(subscriptionId, cancellationToken: ct);

    public async Task<SubscriptionChanged?> ApplyAsync(Subscription subscription, NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        await SubscriptionStore.LockAsync(connection, tx, subscription.Id, ct);
        var userId = subscription.Metadata is { } metadata && metadata.TryGetValue("user_id", out var fromMetadata)
            ? fromMetadata
            : await customers.UserIdForCustomerAsync(connection, tx, subscription.CustomerId, ct);
        return await subscriptions.UpsertAsync(connection, tx, subscription, userId, ct);
    }
}

/// <summary><c>customer.subscription.created|updated|deleted|trial_will_end</c>: mirror Stripe's current state, whatever the delivery order.</summary>
public sealed class SubscriptionChangedHandler(SubscriptionSync sync) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } =
        ["customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted", "customer.subscription.trial_will_end"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        var subscription = await sync.FetchAsync(stripeEvent.ObjectId ?? throw new PermanentWorkFailureException("event has no object id"), cancellationToken);
        await work.CommitAsync((connection, tx, ct) => sync.ApplyAsync(subscription, connection, tx, ct), cancellationToken);
    }
}

/// <summary><c>checkout.session.completed</c>: link the customer to the user and mirror the new subscription.</summary>
public sealed class CheckoutSessionCompletedHandler(StripeGateway stripe, SubscriptionSync sync, SubscriptionStore subscriptions, TimeProvider time) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["checkout.session.completed"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        var session = await new global::Stripe.Checkout.SessionService(stripe.Client).GetAsync(stripeEvent.ObjectId, cancellationToken: cancellationToken);
        if (session.Mode != "subscription" || session.SubscriptionId is null)
        {
            return;
        }

        var subscription = await sync.FetchAsync(session.SubscriptionId, cancellationToken);
        await work.CommitAsync(
            async (connection, tx, ct) =>
            {
                if (session.ClientReferenceId is { } userId && session.CustomerId is { } customerId)
                {
                    await Dapper.SqlMapper.ExecuteAsync(connection, new Dapper.CommandDefinition(
                        """
                        INSERT INTO billing_customers (user_id, stripe_customer_id, currency, created_at) VALUES (@userId, @customerId, @currency, @now)
                        ON CONFLICT DO NOTHING
                        """,
                        new { userId, customerId, currency = session.Currency ?? "usd", now = time.GetUtcNow() }, tx, cancellationToken: ct));

                    // Subscriptions of this customer mirrored before its user was known are linked and announced too.
                    await subscriptions.LinkUserAsync(connection, tx, customerId, userId, ct);
                }

                await sync.ApplyAsync(subscription, connection, tx, ct);
            },
            cancellationToken);
    }
}
