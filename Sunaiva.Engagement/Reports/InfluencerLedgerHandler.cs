using System.Globalization;
using System.Text.Json;
using Dapper;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Engagement.BillingMail;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Engagement.Reports;

/// <summary>
/// Engagement's read model of influencer performance, fed by Billing's (and its own) events in each event's transaction:
/// signups by referral code (<c>user.signed_up</c>), their conversions and cancellations (<c>subscription.*</c>),
/// commissions, clawbacks and payouts (<c>commission.*</c>, <c>payout.sent</c>), and which user owns a referral code
/// (<c>payout.sent</c>/<c>payout.failed</c> name both). Every fact is keyed by its own id, so a replay adds nothing.
/// <c>payout.sent</c> also schedules that period's performance report.
/// </summary>
public sealed class InfluencerLedgerHandler(WorkQueue work) : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } =
    [
        Sunaiva.Contracts.EventTypes.UserSignedUp, Sunaiva.Contracts.EventTypes.SubscriptionActivated, Sunaiva.Contracts.EventTypes.SubscriptionCanceled,
        Sunaiva.Contracts.EventTypes.CommissionEarned, InfluencerEvents.CommissionClawedBack,
        Sunaiva.Contracts.EventTypes.PayoutSent, Sunaiva.Contracts.EventTypes.PayoutFailed,
    ];

    public async Task HandleAsync(IntegrationEvent e, NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        var period = Period(e.OccurredAt);
        switch (e.Type)
        {
            case Sunaiva.Contracts.EventTypes.UserSignedUp:
                var user = e.DataAs<UserSignedUp>();
                if (user.ReferralCode is { Length: > 0 } code)
                {
                    await connection.ExecuteAsync(new CommandDefinition(
                        "INSERT INTO referred_users (user_id, referral_code, signed_up_at) VALUES (@Id, @code, @at) ON CONFLICT DO NOTHING",
                        new { user.Id, code, at = e.OccurredAt }, tx, cancellationToken: ct));
                }

                break;
            case Sunaiva.Contracts.EventTypes.SubscriptionActivated:
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE referred_users SET converted_at = COALESCE(converted_at, @at), canceled_at = NULL WHERE user_id = @UserId",
                    new { e.DataAs<SubscriptionChangedData>().UserId, at = e.OccurredAt }, tx, cancellationToken: ct));
                break;
            case Sunaiva.Contracts.EventTypes.SubscriptionCanceled:
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE referred_users SET canceled_at = @at WHERE user_id = @UserId AND converted_at IS NOT NULL",
                    new { e.DataAs<SubscriptionChangedData>().UserId, at = e.OccurredAt }, tx, cancellationToken: ct));
                break;
            case Sunaiva.Contracts.EventTypes.CommissionEarned:
                var earned = e.DataAs<CommissionEarnedData>();
                await LedgerAsync(connection, tx, $"commission:{earned.InvoiceId}", earned.ReferralCode, "commission", earned.AmountUsd, period, e.OccurredAt, ct);
                break;
            case InfluencerEvents.CommissionClawedBack:
                var clawed = e.DataAs<CommissionClawedBackData>();
                await LedgerAsync(connection, tx, $"clawback:{e.Id}", clawed.ReferralCode, "clawback", Math.Abs(clawed.AmountUsd), period, e.OccurredAt, ct);
                break;
            default:
                var payout = e.DataAs<PayoutStatementData>();
                await connection.ExecuteAsync(new CommandDefinition(
                    """
                    INSERT INTO influencers (referral_code, influencer_id, user_id) VALUES (@ReferralCode, @InfluencerId, @UserId)
                    ON CONFLICT (referral_code) DO UPDATE SET influencer_id = EXCLUDED.influencer_id, user_id = EXCLUDED.user_id
                    """,
                    payout, tx, cancellationToken: ct));
                if (e.Type == Sunaiva.Contracts.EventTypes.PayoutSent)
                {
                    await LedgerAsync(connection, tx, $"payout:{payout.ReferralCode}:{payout.Period}", payout.ReferralCode, "payout", payout.AmountUsd, payout.Period, e.OccurredAt, ct);
                    await work.EnqueueAsync(connection, tx, InfluencerReportWork.For(payout.ReferralCode, payout.Period, InfluencerReportWork.OnPayout, e.OccurredAt), ct);
                }

                break;
        }
    }

    /// <summary>"2026-11" for a time in November 2026 (UTC).</summary>
    public static string Period(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    private static Task<int> LedgerAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string key, string code, string kind, long amountUsd, string period, DateTimeOffset at, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO influencer_ledger (key, referral_code, kind, amount_usd, period, at) VALUES (@key, @code, @kind, @amountUsd, @period, @at) ON CONFLICT DO NOTHING",
            new { key, code, kind, amountUsd, period, at }, tx, cancellationToken: ct));
}
