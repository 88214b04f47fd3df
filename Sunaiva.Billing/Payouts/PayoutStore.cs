using Dapper;
using Npgsql;
using Sunaiva.Billing.Influencers;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Billing.Payouts;

/// <summary>A payout statement, as Engagement's emails need it.</summary>
public sealed record PayoutStatement(string InfluencerId, string UserId, string ReferralCode, string Period, long AmountUsd, string? TransferId, string? Reason);

/// <summary>A pending payout this run holds the lease of; <see cref="Attempts"/> counts this attempt.</summary>
public sealed record PayoutClaim(string InfluencerId, string AccountId, string Period, long Amount, string IdempotencyKey, int Attempts)
{
    /// <summary>An earlier attempt may have reached Stripe: its transfer must be looked up before asking again.</summary>
    public bool OutcomeUnknown => Attempts > 1;
}

/// <summary>Payout rows: one decision per influencer and period. Every write is its own short transaction.</summary>
public sealed class PayoutStore(NpgsqlDataSource dataSource, EventOutbox outbox, TimeProvider time)
{
    /// <summary>Pending payouts (any period) whose lease is free: transfers not made yet, or whose outcome is unknown.</summary>
    public async Task<IReadOnlyList<(string InfluencerId, string Period)>> PendingAsync(CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<(string, string)>(new CommandDefinition(
            """
            SELECT p.influencer_id, p.period FROM payouts p JOIN influencers i ON i.id = p.influencer_id
            WHERE p.status = 'pending' AND i.stripe_account_id IS NOT NULL AND (p.claimed_until IS NULL OR p.claimed_until <= @now)
            ORDER BY p.period, p.influencer_id
            """,
            new { now = time.GetUtcNow() }, cancellationToken: ct));
        return rows.ToList();
    }

    /// <summary>
    /// Takes the lease of a pending payout and counts the attempt, committed before Stripe is called: a crash after this
    /// point leaves attempts &gt; 0, so the next run reconciles with Stripe before it asks again. Null when someone else holds it.
    /// </summary>
    public async Task<PayoutClaim?> ClaimAsync(string influencerId, string period, TimeSpan lease, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<PayoutClaim>(new CommandDefinition(
            """
            UPDATE payouts p SET claimed_until = @until, attempts = p.attempts + 1, attempted_at = @now, updated_at = @now
            FROM influencers i
            WHERE i.id = p.influencer_id AND p.influencer_id = @influencerId AND p.period = @period AND p.status = 'pending'
              AND i.stripe_account_id IS NOT NULL AND (p.claimed_until IS NULL OR p.claimed_until <= @now)
            RETURNING p.influencer_id AS influencerid, i.stripe_account_id AS accountid, p.period, p.amount_usd AS amount,
                      p.idempotency_key AS idempotencykey, p.attempts
            """,
            new { influencerId, period, now, until = now + lease }, cancellationToken: ct));
    }

    /// <summary>The transfer exists at Stripe: the payout is sent (once) and payout.sent is published in the same transaction.</summary>
    public async Task<bool> RecordSentAsync(PayoutClaim claim, string transferId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var updated = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE payouts SET status = 'sent', stripe_transfer_id = @transferId, reason = NULL, claimed_until = NULL, updated_at = @now
            WHERE influencer_id = @influencerId AND period = @period AND status = 'pending'
            """,
            new { claim.InfluencerId, claim.Period, transferId, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        if (updated == 1)
        {
            await PublishSentAsync(connection, tx, claim.InfluencerId, claim.Period, claim.Amount, transferId, ct);
        }

        await tx.CommitAsync(ct);
        return updated == 1;
    }

    /// <summary>Stripe refused the transfer (a definite answer): failed, payout.failed, amount payable again next month.</summary>
    public async Task RecordFailedAsync(PayoutClaim claim, string failure, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var updated = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE payouts SET status = 'failed', reason = @failure, claimed_until = NULL, updated_at = @now
            WHERE influencer_id = @influencerId AND period = @period AND status = 'pending'
            """,
            new { claim.InfluencerId, claim.Period, failure, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        if (updated == 1)
        {
            await PublishFailedAsync(connection, tx, claim.InfluencerId, claim.Period, claim.Amount, failure, $"payout.failed:{claim.InfluencerId}:{claim.Period}", ct);
        }

        await tx.CommitAsync(ct);
    }

    /// <summary>No definite answer: the row stays pending (its amount reserved), the lease is released, the reason kept for ops.</summary>
    public async Task RecordUnknownAsync(PayoutClaim claim, string reason, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE payouts SET reason = @reason, claimed_until = NULL, updated_at = @now
            WHERE influencer_id = @influencerId AND period = @period AND status = 'pending'
            """,
            new { claim.InfluencerId, claim.Period, reason, now = time.GetUtcNow() }, cancellationToken: ct));
    }

    /// <summary>A transfer seen at Stripe (transfer.created) whose row is not marked sent yet: mark it and publish the statement.</summary>
    public async Task ConfirmSentAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string influencerId, string period, string transferId, long amount, CancellationToken ct)
    {
        var updated = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE payouts SET status = 'sent', stripe_transfer_id = @transferId, reason = NULL, claimed_until = NULL, updated_at = @now
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
