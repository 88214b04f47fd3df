using System.Globalization;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Stripe;
using Sunaiva.Billing.Infrastructure;

namespace Sunaiva.Billing.Payouts;

public sealed record PayoutRunResult(
    string Period,
    bool AlreadyRunning,
    int Sent,
    long SentUsd,
    int CarriedOver,
    int Held,
    int Failed,
    int AlreadyPaid,
    IReadOnlyList<PayoutProblem> Problems);

public sealed record PayoutProblem(string InfluencerId, string Status, string Reason);

/// <summary>
/// The monthly payout run. One run at a time across replicas (a Postgres advisory lock); each influencer gets at most
/// one payout row per period and one Stripe transfer with the idempotency key <c>payout:{influencer}:{period}</c>.
/// The row is committed as pending before the transfer is asked for, so a crash in between is finished by the next
/// run with the same key (Stripe answers with the same transfer), never paid twice.
/// </summary>
public sealed partial class PayoutRunner(
    NpgsqlDataSource dataSource,
    StripeGateway stripe,
    PayoutStore store,
    IOptions<StripeOptions> options,
    TimeProvider time,
    ILogger<PayoutRunner> logger)
{
    private const long RunLockKey = 0x7061_796f_7574_73;

    /// <summary>The period a run at <paramref name="at"/> pays: the month before.</summary>
    public static string PeriodFor(DateTimeOffset at) => at.UtcDateTime.AddMonths(-1).ToString("yyyy-MM", CultureInfo.InvariantCulture);

    public async Task<PayoutRunResult> RunAsync(string? period, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        period ??= PeriodFor(now);
        await using var lockConnection = await dataSource.OpenConnectionAsync(ct);
        var locked = await lockConnection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(@k)", new { k = RunLockKey }, cancellationToken: ct));
        if (!locked)
        {
            LogAlreadyRunning(logger, period);
            return new PayoutRunResult(period, true, 0, 0, 0, 0, 0, 0, []);
        }

        try
        {
            return await RunLockedAsync(period, now, ct);
        }
        finally
        {
            await lockConnection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock(@k)", new { k = RunLockKey }, cancellationToken: CancellationToken.None));
        }
    }

    private async Task<PayoutRunResult> RunLockedAsync(string period, DateTimeOffset now, CancellationToken ct)
    {
        var settings = options.Value;
        var problems = new List<PayoutProblem>();
        var candidates = new List<Candidate>();
        int carried = 0, held = 0, alreadyPaid = 0;

        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        {
            // Transfers left in flight by an earlier run (any period) are finished first, with their own key and amount.
            var inFlight = (await connection.QueryAsync<Candidate>(new CommandDefinition(
                """
                SELECT p.influencer_id AS influencerid, i.stripe_account_id AS accountid, p.period, p.amount_usd AS amount, p.idempotency_key AS idempotencykey
                FROM payouts p JOIN influencers i ON i.id = p.influencer_id WHERE p.status = 'pending' AND i.stripe_account_id IS NOT NULL
                """,
                cancellationToken: ct))).ToList();
            candidates.AddRange(inFlight);

            // Payable balance: entries out of their hold period, minus what was paid or is in flight in other periods.
            var balances = await connection.QueryAsync<BalanceRow>(new CommandDefinition(
                """
                WITH earned AS (
                    SELECT referral_code, SUM(amount_usd)::bigint AS total FROM commission_entries WHERE available_at <= @now GROUP BY referral_code
                ), paid AS (
                    SELECT influencer_id, SUM(amount_usd)::bigint AS total FROM payouts WHERE status IN ('sent', 'pending') AND period <> @period GROUP BY influencer_id
                )
                SELECT i.id AS influencerid, i.stripe_account_id AS accountid, i.payouts_enabled AS payoutsenabled, i.disabled_reason AS disabledreason,
                       (COALESCE(e.total, 0) - COALESCE(p.total, 0))::bigint AS balance, cur.status AS currentstatus
                FROM influencers i
                JOIN earned e ON e.referral_code = i.referral_code
                LEFT JOIN paid p ON p.influencer_id = i.id
                LEFT JOIN payouts cur ON cur.influencer_id = i.id AND cur.period = @period
                """,
                new { now, period }, cancellationToken: ct, commandTimeout: 600));

            var decisions = new List<object>();
            foreach (var row in balances)
            {
                if (row.CurrentStatus is "sent" or "pending")
                {
                    alreadyPaid++;
                    continue;
                }

                if (row.Balance <= 0 && row.CurrentStatus is null)
                {
                    continue;
                }

                var key = $"payout:{row.InfluencerId}:{period}";
                if (!row.PayoutsEnabled || row.AccountId is null)
                {
                    var reason = row.AccountId is null ? "no Stripe account: onboarding not started" : row.DisabledReason ?? "payouts not enabled";
                    decisions.Add(new { id = row.InfluencerId, period, status = "held", amount = row.Balance, reason, key, now });
                    problems.Add(new PayoutProblem(row.InfluencerId, "held", reason));
                    held++;
                }
                else if (row.Balance < settings.PayoutMinimumCents)
                {
                    decisions.Add(new { id = row.InfluencerId, period, status = "carried_over", amount = row.Balance, reason = (string?)$"below the {settings.PayoutMinimumUsd} USD minimum", key, now });
                    carried++;
                }
                else
                {
                    decisions.Add(new { id = row.InfluencerId, period, status = "pending", amount = row.Balance, reason = (string?)null, key, now });
                    candidates.Add(new Candidate(row.InfluencerId, row.AccountId, period, row.Balance, key));
                }
            }

            await using var tx = await connection.BeginTransactionAsync(ct);
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO payouts (influencer_id, period, status, amount_usd, reason, idempotency_key, created_at, updated_at)
                VALUES (@id, @period, @status, @amount, @reason, @key, @now, @now)
                ON CONFLICT (influencer_id, period) DO UPDATE SET status = EXCLUDED.status, amount_usd = EXCLUDED.amount_usd,
                    reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at
                WHERE payouts.status NOT IN ('sent', 'pending')
                """,
                decisions, tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
        }

        var sent = 0;
        var sentUsd = 0L;
        var failed = 0;
        await Parallel.ForEachAsync(candidates, new ParallelOptions { MaxDegreeOfParallelism = settings.PayoutConcurrency, CancellationToken = ct }, async (candidate, token) =>
        {
            var outcome = await TransferAsync(candidate, token);
            lock (problems)
            {
                if (outcome is null)
                {
                    sent++;
                    sentUsd += candidate.Amount;
                }
                else
                {
                    failed++;
                    problems.Add(new PayoutProblem(candidate.InfluencerId, "failed", outcome));
                }
            }
        });

        LogRunFinished(logger, period, sent, sentUsd, carried, held, failed);
        return new PayoutRunResult(period, false, sent, sentUsd, carried, held, failed, alreadyPaid, problems);
    }

    /// <summary>Makes the transfer; null when sent, else why it failed.</summary>
    private async Task<string?> TransferAsync(Candidate candidate, CancellationToken ct)
    {
        Transfer? transfer = null;
        string? failure = null;
        bool definite = true;
        try
        {
            transfer = await new TransferService(stripe.Client).CreateAsync(
                new TransferCreateOptions
                {
                    Amount = candidate.Amount,
                    Currency = "usd",
                    Destination = candidate.AccountId,
                    TransferGroup = $"payout:{candidate.Period}",
                    Description = $"Sunaiva commissions {candidate.Period}",
                    Metadata = new Dictionary<string, string> { ["influencer_id"] = candidate.InfluencerId, ["period"] = candidate.Period },
                },
                StripeGateway.Idempotent(candidate.IdempotencyKey),
                ct);
        }
        catch (StripeException ex) when ((int)ex.HttpStatusCode is >= 400 and < 500 && (int)ex.HttpStatusCode != 409 && (int)ex.HttpStatusCode != 429)
        {
            failure = ex.StripeError?.Code ?? ex.StripeError?.Type ?? "transfer refused";
        }
        catch (Exception ex) when (ex is StripeException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            // Unknown outcome: the row stays pending and the next run asks again with the same key.
            failure = "Stripe did not answer; retried with the same idempotency key on the next run";
            definite = false;
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        if (transfer is not null)
        {
            var updated = await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE payouts SET status = 'sent', stripe_transfer_id = @transferId, reason = NULL, attempts = attempts + 1, updated_at = @now
                WHERE influencer_id = @influencerId AND period = @period AND status = 'pending'
                """,
                new { candidate.InfluencerId, candidate.Period, transferId = transfer.Id, now = time.GetUtcNow() }, tx, cancellationToken: ct));
            if (updated == 1)
            {
                await store.PublishSentAsync(connection, tx, candidate.InfluencerId, candidate.Period, candidate.Amount, transfer.Id, ct);
            }

            BillingTelemetry.TransfersMade.Add(1, new KeyValuePair<string, object?>("outcome", "sent"));
        }
        else if (definite)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE payouts SET status = 'failed', reason = @failure, attempts = attempts + 1, updated_at = @now
                WHERE influencer_id = @influencerId AND period = @period AND status = 'pending'
                """,
                new { candidate.InfluencerId, candidate.Period, failure, now = time.GetUtcNow() }, tx, cancellationToken: ct));
            await store.PublishFailedAsync(connection, tx, candidate.InfluencerId, candidate.Period, candidate.Amount, failure!,
                $"payout.failed:{candidate.InfluencerId}:{candidate.Period}", ct);
            BillingTelemetry.TransfersMade.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
        }
        else
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE payouts SET reason = @failure, attempts = attempts + 1, updated_at = @now WHERE influencer_id = @influencerId AND period = @period",
                new { candidate.InfluencerId, candidate.Period, failure, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        }

        await tx.CommitAsync(ct);
        return transfer is null ? failure : null;
    }

    internal sealed record Candidate(string InfluencerId, string AccountId, string Period, long Amount, string IdempotencyKey);

    internal sealed record BalanceRow(string InfluencerId, string? AccountId, bool PayoutsEnabled, string? DisabledReason, long Balance, string? CurrentStatus);

    [LoggerMessage(Level = LogLevel.Information, Message = "Payout run for {Period} skipped: another run holds the lock")]
    private static partial void LogAlreadyRunning(ILogger logger, string period);

    [LoggerMessage(Level = LogLevel.Information, Message = "Payout run {Period}: {Sent} sent ({SentUsd} cents), {Carried} carried over, {Held} held, {Failed} failed")]
    private static partial void LogRunFinished(ILogger logger, string period, int sent, long sentUsd, int carried, int held, int failed);
}
