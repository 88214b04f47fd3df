using Dapper;
using Npgsql;
using Stripe;
using EventTypes = Sunaiva.Contracts.EventTypes;
using Sunaiva.Billing.Commissions;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Subscriptions;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Billing.Webhooks.Handlers;

public sealed record PaymentFailed(string UserId, string SubscriptionId, string InvoiceId, long AmountDue, string Currency, int AttemptCount,
    DateTimeOffset? NextAttemptAt, DateTimeOffset GraceUntil, bool ActionRequired, string? HostedInvoiceUrl);

public sealed record PaymentRecovered(string UserId, string SubscriptionId, string InvoiceId);

/// <summary>Reads invoices with what the handlers need.</summary>
public sealed class InvoiceReader(StripeGateway stripe)
{
    public Task<Invoice> GetAsync(string invoiceId, CancellationToken ct) =>
        new InvoiceService(stripe.Client).GetAsync(invoiceId, new InvoiceGetOptions { Expand = ["payments"] }, cancellationToken: ct);

    public static string? SubscriptionId(Invoice invoice) => invoice.Parent?.SubscriptionDetails?.SubscriptionId;
}

/// <summary><c>invoice.paid</c>: ends a dunning episode (payment.recovered) and earns the referrer's commission.</summary>
public sealed class InvoicePaidHandler(InvoiceReader invoices, SubscriptionSync sync, CommissionLedger ledger, EventOutbox outbox, TimeProvider time) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["invoice.paid"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        var invoice = await invoices.GetAsync(stripeEvent.ObjectId!, cancellationToken);
        if (invoice.Status != "paid")
        {
            return;
        }

        var subscriptionId = InvoiceReader.SubscriptionId(invoice);
        var subscription = subscriptionId is null ? null : await sync.FetchAsync(subscriptionId, cancellationToken);
        await work.CommitAsync(
            async (connection, transaction, ct) =>
            {
                string? userId = null;
                if (subscription is not null)
                {
                    userId = (await sync.ApplyAsync(subscription, connection, transaction, ct))?.UserId;
                    var recovered = await connection.ExecuteAsync(new CommandDefinition(
                        "UPDATE billing_payment_failures SET recovered_at = @now WHERE stripe_subscription_id = @subscriptionId AND recovered_at IS NULL",
                        new { subscriptionId = subscription.Id, now = time.GetUtcNow() }, transaction, cancellationToken: ct));
                    if (recovered > 0 && userId is not null)
                    {
                        await outbox.AddAsync(connection, transaction, EventTypes.PaymentRecovered, new PaymentRecovered(userId, subscription.Id, invoice.Id),
                            $"payment.recovered:{invoice.Id}", ct);
                    }
                }

                userId ??= invoice.CustomerId is { } customer
                    ? await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                        "SELECT user_id FROM billing_customers WHERE stripe_customer_id = @customer", new { customer }, transaction, cancellationToken: ct))
                    : null;
                if (userId is not null)
                {
                    await ledger.EarnAsync(connection, transaction, invoice, userId, ct);
                }
            },
            cancellationToken);
    }
}

/// <summary>Records a failed or action-required payment once per attempt and opens the grace period.</summary>
public sealed class PaymentFailureRecorder(InvoiceReader invoices, SubscriptionStore subscriptions, SubscriptionSync sync, EventOutbox outbox, TimeProvider time)
{
    public async Task RecordAsync(string invoiceId, bool actionRequired, WorkContext work, CancellationToken cancellationToken)
    {
        var invoice = await invoices.GetAsync(invoiceId, cancellationToken);
        var subscriptionId = InvoiceReader.SubscriptionId(invoice);

        // Out of order: the invoice was paid since; nothing failed any more.
        if (invoice.Status is "paid" or "void" || subscriptionId is null)
        {
            return;
        }

        // Read before any transaction: if the subscription is not mirrored yet (delivered before its own events), it is
        // mirrored from Stripe in the same transaction, so the failure reaches its user instead of being recorded for nobody.
        var subscription = await sync.FetchAsync(subscriptionId, cancellationToken);
        await work.CommitAsync(
            async (connection, tx, ct) =>
            {
                if (await subscriptions.UserIdAsync(connection, tx, subscriptionId, ct) is null)
                {
                    await sync.ApplyAsync(subscription, connection, tx, ct);
                }

                await RecordInTransactionAsync(invoice, subscriptionId, actionRequired, connection, tx, ct);
            },
            cancellationToken);
    }

    private async Task RecordInTransactionAsync(Invoice invoice, string subscriptionId, bool actionRequired, NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var (userId, _) = await subscriptions.MarkPaymentFailedAsync(connection, tx, subscriptionId, ct);
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO billing_payment_failures (invoice_id, attempt_count, stripe_subscription_id, user_id, amount_due, currency, failed_at)
            VALUES (@invoiceId, @attempt, @subscriptionId, @userId, @amountDue, @currency, @now) ON CONFLICT DO NOTHING
            """,
            new { invoiceId = invoice.Id, attempt = (int)invoice.AttemptCount, subscriptionId, userId, amountDue = invoice.AmountDue, currency = invoice.Currency, now },
            tx, cancellationToken: ct));
        if (inserted == 0 || userId is null)
        {
            return;
        }

        var graceUntil = await connection.QuerySingleAsync<DateTime?>(new CommandDefinition(
            "SELECT grace_until FROM billing_subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId }, tx, cancellationToken: ct));
        await outbox.AddAsync(connection, tx, EventTypes.PaymentFailed,
            new PaymentFailed(userId, subscriptionId, invoice.Id, invoice.AmountDue, invoice.Currency, (int)invoice.AttemptCount,
                invoice.NextPaymentAttempt is { } next ? new DateTimeOffset(next, TimeSpan.Zero) : null,
                new DateTimeOffset(graceUntil ?? now.UtcDateTime, TimeSpan.Zero), actionRequired, invoice.HostedInvoiceUrl),
            $"payment.failed:{invoice.Id}:{invoice.AttemptCount}", ct);
    }
}

/// <summary><c>invoice.payment_failed</c>: past due with grace; payment.failed for the dunning email.</summary>
public sealed class InvoicePaymentFailedHandler(PaymentFailureRecorder recorder) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["invoice.payment_failed"];

    public Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken) =>
        recorder.RecordAsync(stripeEvent.ObjectId!, actionRequired: false, work, cancellationToken);
}

/// <summary><c>invoice.payment_action_required</c>: the customer must authenticate (3DS, mandate); same dunning path.</summary>
public sealed class InvoicePaymentActionRequiredHandler(PaymentFailureRecorder recorder) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["invoice.payment_action_required"];

    public Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken) =>
        recorder.RecordAsync(stripeEvent.ObjectId!, actionRequired: true, work, cancellationToken);
}
