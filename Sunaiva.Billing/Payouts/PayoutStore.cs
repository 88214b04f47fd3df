using Dapper;
using Npgsql;
using Sunaiva.Billing.Influencers;
using Sunaiva.ServiceDefaults.Events;

namespace Sunaiva.Billing.Payouts;

/// <summary>A payout statement, as Engagement's emails need it.</summary>
public sealed record PayoutStatement(string InfluencerId, string UserId, string ReferralCode, string Period, long AmountUsd, string? TransferId, string? Reason);

/// <summary>Payout rows: one decision per influencer and period.</summary>
public sealed class PayoutStore(EventOutbox outbox, TimeProvider time)
{
    /// <summary>A transfer seen at Stripe (transfer.created) whose row is not marked sent yet: mark it and publish the statement.</summary>
    public async Task ConfirmSentAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string influencerId, string period, string transferId, long amount, CancellationToken ct)
    {
        var updated = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE payouts SET status = 'sent', stripe_transfer_id = @transferId, reason = NULL, updated_at = @now
            WHERE influencer_id = @influencerId AND period = @period AND status IN ('pending', 'failed')
            """,
            new { influencerId, period, transferId, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        if (updated == 1)
        {
            await PublishSentAsync(connection, tx, influencerId, period, amount, transferId, ct);
        }
    }

    public async Task MarkReversedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string transferId, CancellationToken ct)
    {
        var row = await connection.QuerySingleOrDefaultAsync<ReversedRow>(new CommandDefinition(
            """
            UPDATE payouts SET status = 'reversed', reason = 'transfer reversed', updated_at = @now
            WHERE stripe_transfer_id = @transferId AND status = 'sent' RETURNING influencer_id AS influencerid, period, amount_usd AS amount
            """,
            new { transferId, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        if (row is { } reversed)
        {
            await PublishFailedAsync(connection, tx, reversed.InfluencerId, reversed.Period, reversed.Amount, "transfer reversed", $"payout.failed:{transferId}:reversed", ct);
        }
    }

    public Task PublishBankPayoutFailedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Influencer influencer, string payoutId, long amount, string? failureCode, CancellationToken ct) =>
        outbox.AddAsync(connection, tx, EventTypes.PayoutFailed,
            new PayoutStatement(influencer.Id, influencer.UserId, influencer.ReferralCode, "bank", amount, null, failureCode ?? "bank payout failed"),
            $"payout.failed:{payoutId}", ct);

    internal async Task PublishSentAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string influencerId, string period, long amount, string transferId, CancellationToken ct)
    {
        var (userId, code) = await InfluencerAsync(connection, tx, influencerId, ct);
        await outbox.AddAsync(connection, tx, EventTypes.PayoutSent, new PayoutStatement(influencerId, userId, code, period, amount, transferId, null),
            $"payout.sent:{influencerId}:{period}", ct);
    }

    internal async Task PublishFailedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string influencerId, string period, long amount, string reason, string eventId, CancellationToken ct)
    {
        var (userId, code) = await InfluencerAsync(connection, tx, influencerId, ct);
        await outbox.AddAsync(connection, tx, EventTypes.PayoutFailed, new PayoutStatement(influencerId, userId, code, period, amount, null, reason), eventId, ct);
    }

    internal sealed record ReversedRow(string InfluencerId, string Period, long Amount);

    private static Task<(string UserId, string Code)> InfluencerAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string influencerId, CancellationToken ct) =>
        connection.QuerySingleAsync<(string, string)>(new CommandDefinition(
            "SELECT user_id, referral_code FROM influencers WHERE id = @influencerId", new { influencerId }, tx, cancellationToken: ct));
}
