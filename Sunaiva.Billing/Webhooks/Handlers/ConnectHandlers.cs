using Dapper;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Influencers;
using Sunaiva.Billing.Payouts;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Billing.Webhooks.Handlers;

/// <summary><c>account.updated</c>: whether the influencer's Express account can receive payouts, and why not.</summary>
public sealed class AccountUpdatedHandler(StripeGateway stripe, InfluencerStore influencers) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["account.updated"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        var accountId = stripeEvent.ObjectId ?? stripeEvent.Account!;
        var account = await new AccountService(stripe.Client).GetAsync(accountId, null, null, cancellationToken: cancellationToken);
        var reason = account.PayoutsEnabled ? null : account.Requirements?.DisabledReason ?? (account.DetailsSubmitted ? "payouts_disabled" : "onboarding_incomplete");
        await work.CommitAsync((connection, tx, ct) => influencers.UpdateAccountStatusAsync(connection, tx, account.Id, account.PayoutsEnabled, reason, ct), cancellationToken);
    }
}

/// <summary><c>transfer.created</c>: confirms a payout whose run stopped between Stripe's answer and our commit.</summary>
public sealed class TransferCreatedHandler(StripeGateway stripe, PayoutStore payouts) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["transfer.created"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        var transfer = await new TransferService(stripe.Client).GetAsync(stripeEvent.ObjectId, cancellationToken: cancellationToken);
        if (transfer.Metadata is { } metadata && metadata.TryGetValue("influencer_id", out var influencerId) && metadata.TryGetValue("period", out var period))
        {
            await work.CommitAsync((connection, tx, ct) => payouts.ConfirmSentAsync(connection, tx, influencerId, period, transfer.Id, transfer.Amount, ct), cancellationToken);
        }
    }
}

/// <summary><c>transfer.reversed</c>: the money came back, so the payout no longer counts and the balance is owed again.</summary>
public sealed class TransferReversedHandler(StripeGateway stripe, PayoutStore payouts) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["transfer.reversed"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        var transfer = await new TransferService(stripe.Client).GetAsync(stripeEvent.ObjectId, cancellationToken: cancellationToken);
        if (transfer.Reversed || transfer.AmountReversed >= transfer.Amount)
        {
            await work.CommitAsync((connection, tx, ct) => payouts.MarkReversedAsync(connection, tx, transfer.Id, ct), cancellationToken);
        }
    }
}

/// <summary><c>payout.paid</c> on a connected account: the influencer's bank received the money.</summary>
public sealed partial class PayoutPaidHandler(ILogger<PayoutPaidHandler> logger) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["payout.paid"];

    public Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        LogPaid(logger, stripeEvent.ObjectId ?? "?", stripeEvent.Account ?? "platform");
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Bank payout {PayoutId} paid on account {Account}")]
    private static partial void LogPaid(ILogger logger, string payoutId, string account);
}

/// <summary><c>payout.failed</c> on a connected account: the bank refused; tell the influencer (payout.failed) to fix their details.</summary>
public sealed class PayoutFailedHandler(StripeGateway stripe, InfluencerStore influencers, PayoutStore payouts) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["payout.failed"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken)
    {
        if (stripeEvent.Account is null)
        {
            return;
        }

        var payout = await new PayoutService(stripe.Client).GetAsync(stripeEvent.ObjectId, null, new RequestOptions { StripeAccount = stripeEvent.Account }, cancellationToken);
        if (payout.Status != "failed")
        {
            return;
        }

        await work.CommitAsync(
            async (connection, tx, ct) =>
            {
                if (await influencers.GetByAccountAsync(connection, tx, stripeEvent.Account, ct) is { } influencer)
                {
                    await payouts.PublishBankPayoutFailedAsync(connection, tx, influencer, payout.Id, payout.Amount, payout.FailureCode, ct);
                }
            },
            cancellationToken);
    }
}
