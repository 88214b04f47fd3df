namespace Sunaiva.Engagement.Reports;

/// <summary>Billing events the influencer read model needs that <c>Sunaiva.Contracts.EventTypes</c> does not name yet.</summary>
public static class InfluencerEvents
{
    /// <summary>
    /// A refund or lost dispute took back (part of) a commission; Billing publishes it with each clawback ledger entry
    /// (<c>CommissionLedger.ClawBackRefundAsync/ClawBackDisputeAsync</c>). The shape Engagement reads is <see cref="CommissionClawedBackData"/>.
    /// </summary>
    public const string CommissionClawedBack = Sunaiva.Contracts.EventTypes.CommissionClawedBack;
}

/// <summary>The fields of <c>commission.earned</c> the reports read (Billing's <c>CommissionEarned</c>).</summary>
public sealed record CommissionEarnedData(string ReferralCode, string UserId, string InvoiceId, long AmountUsd);

/// <summary><c>commission.clawed_back</c> as Engagement reads it: USD cents taken back (positive) from the code's commissions.</summary>
public sealed record CommissionClawedBackData(string ReferralCode, string UserId, string InvoiceId, long AmountUsd);

/// <summary>The fields of <c>subscription.activated</c>/<c>subscription.canceled</c> the reports read (Billing's <c>SubscriptionChanged</c>).</summary>
public sealed record SubscriptionChangedData(string SubscriptionId, string UserId);
