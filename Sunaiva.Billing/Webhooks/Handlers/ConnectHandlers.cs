using Dapper;
using Npgsql;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Influencers;
using Sunaiva.Billing.Payouts;

namespace Sunaiva.Billing.Webhooks.Handlers;

/// <summary><c>account.updated</c>: whether the influencer's Express account can receive payouts, and why not.</summary>
public sealed class AccountUpdatedHandler(StripeGateway stripe, InfluencerStore influencers) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["account.updated"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var accountId = stripeEvent.ObjectId ?? stripeEvent.Account!;
        var account = await new AccountService(stripe.Client).GetAsync(accountId, null, null, cancellationToken: cancellationToken);
        var reason = account.PayoutsEnabled ? null : account.Requirements?.DisabledReason ?? (account.DetailsSubmitted ? "payouts_disabled" : "onboarding_incomplete");
        await influencers.UpdateAccountStatusAsync(connection, transaction, account.Id, account.PayoutsEnabled, reason, cancellationToken);
    }
}

/// <summary><c>transfer.created</c>: confirms a payout whose run stopped between Stripe's answer and our commit.</summary>
public sealed class TransferCreatedHandler(StripeGateway stripe, PayoutStore payouts) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["transfer.created"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var transfer = await new TransferService(stripe.Client).GetAsync(stripeEvent.ObjectId, cancellationToken: cancellationToken);
        if (transfer.Metadata is { } metadata && metadata.TryGetValue("influencer_id", out var influencerId) && metadata.TryGetValue("period", out var period))
        {
            await payouts.ConfirmSentAsync(connection, transaction, influencerId, period, transfer.Id, transfer.Amount, cancellationToken);
        }
    }
}

/// <summary><c>transfer.reversed</c>: the money came back, so the payout no longer counts and the balance is owed again.</summary>
public sealed class TransferReversedHandler(StripeGateway stripe, PayoutStore payouts) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["transfer.reversed"];

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var transfer = await new TransferService(stripe.Client).GetAsync(stripeEvent.ObjectId, cancellationToken: cancellationToken);
        if (transfer.Reversed || transfer.AmountReversed >= transfer.Amount)
        {
            await payouts.MarkReversedAsync(connection, transaction, transfer.Id, cancellationToken);
        }
    }
}

/// <summary><c>payout.paid</c> on a connected account: the influencer's bank received the money.</summary>
public sealed partial class PayoutPaidHandler(ILogger<PayoutPaidHandler> logger) : IStripeEventHandler
{
    public IReadOnlyCollection<string> Types { get; } = ["payout.paid"];

    public Task HandleAsync(StripeEventEnvelope stripeEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
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

    public async Task HandleAsync(StripeEventEnvelope stripeEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        if (stripeEvent.Account is null)
        {
            return;
        }

        var payout = await new PayoutService(stripe.Client).GetAsync(stripeEvent.ObjectId, null, new RequestOptions { StripeAccount = stripeEvent.Account }, cancellationToken);
        var influencer = await influencers.GetByAccountAsync(connection, transaction, stripeEvent.Account, cancellationToken);
        if (influencer is not null && payout.Status == "failed")
        {
            await payouts.PublishBankPayoutFailedAsync(connection, transaction, influencer, payout.Id, payout.Amount, payout.FailureCode, cancellationToken);
        }
    }
}
