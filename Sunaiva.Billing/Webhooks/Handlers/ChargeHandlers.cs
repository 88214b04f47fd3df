using Stripe;
using Sunaiva.Billing.Commissions;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Billing.Webhooks.Handlers;

/// <summary><c>charge.refunded</c>: claw back the refunded share of the commission.</summary>
public sealed class ChargeRefundedHandler(StripeGateway stripe, CommissionLedger ledger) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["charge.refunded"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        var charge = await new ChargeService(stripe.Client).GetAsync(stripeEvent.ObjectId, cancellationToken: cancellationToken);
        await work.CommitAsync((connection, tx, ct) => ledger.ClawBackRefundAsync(connection, tx, charge.Id, charge.Amount, charge.AmountRefunded, ct), cancellationToken);
    }
}

/// <summary><c>charge.dispute.created</c>: nothing moves until the dispute closes; the mirror is refreshed for reports.</summary>
public sealed partial class DisputeCreatedHandler(StripeGateway stripe, ILogger<DisputeCreatedHandler> logger) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["charge.dispute.created"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        var dispute = await new DisputeService(stripe.Client).GetAsync(stripeEvent.ObjectId, cancellationToken: cancellationToken);
        LogDispute(logger, dispute.Id, dispute.ChargeId, dispute.Status);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dispute {DisputeId} opened on charge {ChargeId} ({Status})")]
    private static partial void LogDispute(ILogger logger, string disputeId, string chargeId, string status);
}

/// <summary><c>charge.dispute.closed</c>: a lost dispute claws back what is left of the commission.</summary>
public sealed class DisputeClosedHandler(StripeGateway stripe, CommissionLedger ledger) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["charge.dispute.closed"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        var dispute = await new DisputeService(stripe.Client).GetAsync(stripeEvent.ObjectId, cancellationToken: cancellationToken);
        if (dispute.Status == "lost")
        {
            await work.CommitAsync((connection, tx, ct) => ledger.ClawBackDisputeAsync(connection, tx, dispute.Id, dispute.ChargeId, ct), cancellationToken);
        }
    }
}
