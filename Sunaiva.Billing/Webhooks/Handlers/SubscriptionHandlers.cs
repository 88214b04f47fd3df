using Npgsql;
using Stripe;
using Sunaiva.Billing.Checkout;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Subscriptions;

namespace Sunaiva.Billing.Webhooks.Handlers;

/// <summary>Re-reads a subscription from Stripe and mirrors it; shared by the subscription and checkout handlers.</summary>
public sealed class SubscriptionSync(StripeGateway stripe, SubscriptionStore subscriptions, CustomerStore customers)
{
    public async Task<SubscriptionChanged?> SyncAsync(string subscriptionId, NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        // Lock first, read second: a read taken under the lock is never older than what is stored.
        await SubscriptionStore.LockAsync(connection, tx, subscriptionId, ct);
        var subscription = await new SubscriptionService(stripe.Client).GetAsync(subscriptionId, cancellationToken: ct);
        var userId = subscription.Metadata is { } metadata && metadata.TryGetValue("user_id", out var fromMetadata)
            ? fromMetadata
            : await customers.UserIdForCustomerAsync(connection, tx, subscription.CustomerId, ct);
        return await subscriptions.UpsertAsync(connection, tx, subscription, userId, ct);
    }
}

/// <summary><c>customer.subscription.created|updated|deleted</c>: mirror Stripe's current state, whatever the delivery order.</summary>
public sealed class SubscriptionChangedHandler(SubscriptionSync sync) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"];

    public Task HandleAsync(StripeEventEnvelope stripeEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken) =>
        sync.SyncAsync(stripeEvent.ObjectId ?? throw new InvalidOperationException("event has no object id"), connection, transaction, cancellationToken);
}

/// <summary><c>customer.subscription.trial_will_end</c>: refresh the mirror (trial end, payment method state).</summary>
public sealed class TrialWillEndHandler(SubscriptionSync sync) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["customer.subscription.trial_will_end"];

    public Task HandleAsync(StripeEventEnvelope stripeEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken) =>
        sync.SyncAsync(stripeEvent.ObjectId ?? throw new InvalidOperationException("event has no object id"), connection, transaction, cancellationToken);
}

/// <summary><c>checkout.session.completed</c>: link the customer to the user and mirror the new subscription.</summary>
public sealed class CheckoutSessionCompletedHandler(StripeGateway stripe, SubscriptionSync sync, TimeProvider time) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["checkout.session.completed"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var session = await new global::Stripe.Checkout.SessionService(stripe.Client).GetAsync(stripeEvent.ObjectId, cancellationToken: cancellationToken);
        if (session.Mode != "subscription" || session.SubscriptionId is null)
        {
            return;
        }

        if (session.ClientReferenceId is { } userId && session.CustomerId is { } customerId)
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, new Dapper.CommandDefinition(
                """
                INSERT INTO billing_customers (user_id, stripe_customer_id, currency, created_at) VALUES (@userId, @customerId, @currency, @now)
                ON CONFLICT DO NOTHING
                """,
                new { userId, customerId, currency = session.Currency ?? "usd", now = time.GetUtcNow() }, transaction, cancellationToken: cancellationToken));
        }

        await sync.SyncAsync(session.SubscriptionId, connection, transaction, cancellationToken);
    }
}
