using System.Globalization;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Stripe;
using Sunaiva.Billing.Infrastructure;

namespace Sunaiva.Billing.Payouts;

/// <summary>What a run did. <c>Unknown</c> counts transfers Stripe did not answer: still pending, looked up at Stripe before any retry.</summary>
public sealed record PayoutRunResult(
    string Period,
    bool AlreadyRunning,
    int Sent,
    long SentUsd,
    int CarriedOver,
    int Held,
    int Failed,
    int Unknown,
    int AlreadyPaid,
    IReadOnlyList<PayoutProblem> Problems);

public sealed record PayoutProblem(string InfluencerId, string Status, string Reason);

/// <summary>
/// The monthly payout run. Each influencer gets at most one payout row per period and one Stripe transfer, made with the
/// idempotency key, <c>transfer_group</c> and <c>metadata[payout_key]</c> <c>payout:{influencer}:{period}</c>.
/// No transaction or lock is held while Stripe is called: the run plans its rows in one short transaction, then per payout
/// claims the row (a lease, attempt counted), calls Stripe, and records the answer in another short transaction.
/// Stripe keeps idempotency keys 24 hours only, so a payout whose earlier attempt may have reached Stripe is first looked up
/// there (by transfer_group, then by destination and metadata) and recorded as sent when found: never paid twice.
/// </summary>
public sealed partial class PayoutRunner(
    NpgsqlDataSource dataSource,
    StripeGateway stripe,
    PayoutStore store,
    IOptions<StripeOptions> options,
    TimeProvider time,
    ILogger<PayoutRunner> logger)
{
    private const long PlanLockKey = 0x7061_796f_7574_73;

    /// <summary>Test seam: runs after Stripe answered a transfer and before the answer is recorded (a crash there).</summary>
    internal Func<PayoutClaim, CancellationToken, Task>? AfterTransfer { get; set; }

    /// <summary>The period a run at <paramref name="at"/> pays: the month before.</summary>
    public static string PeriodFor(DateTimeOffset at) => at.UtcDateTime.AddMonths(-1).ToString("yyyy-MM", CultureInfo.InvariantCulture);

    /// <summary>A period after the current month: nothing can have been earned in it yet.</summary>
    public static bool IsFuture(string period, DateTimeOffset now) =>
        string.CompareOrdinal(period, now.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture)) > 0;

    /// <summary>How long a claimed payout is reserved for the run that claimed it: longer than Stripe.net's own retries can take.</summary>
    private TimeSpan Lease => (options.Value.RequestTimeout * (options.Value.MaxNetworkRetries + 1)) + TimeSpan.FromMinutes(1);

    public async Task<PayoutRunResult> RunAsync(string? period, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        period ??= PeriodFor(now);
        if (IsFuture(period, now))
        {
            throw new ArgumentOutOfRangeException(nameof(period), period, "A payout run cannot pay a future period.");
        }

        var settings = options.Value;
        var plan = await PlanAsync(period, now, settings, ct);
        var problems = new List<PayoutProblem>(plan.Problems);
        int sent = 0, failed = 0, unknown = 0;
        var sentUsd = 0L;

        // Every pending row, of any period: this run's new ones, and those an earlier run left in flight or unanswered.
        var pending = await store.PendingAsync(ct);
        await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = settings.PayoutConcurrency, CancellationToken = ct }, async (row, token) =>
        {
            var claim = await store.ClaimAsync(row.InfluencerId, row.Period, Lease, token);
            if (claim is null)
            {
                return; // another run holds it
            }

            var outcome = await PayAsync(claim, token);
            lock (problems)
            {
                switch (outcome.Status)
                {
                    case "sent":
                        sent++;
                        sentUsd += claim.Amount;
                        break;
                    case "failed":
                        failed++;
                        problems.Add(new PayoutProblem(claim.InfluencerId, "failed", outcome.Reason!));
                        break;
                    case "unknown":
                        unknown++;
                        problems.Add(new PayoutProblem(claim.InfluencerId, "unknown", outcome.Reason!));
                        break;
                }
            }
        });

        LogRunFinished(logger, period, sent, sentUsd, plan.Carried, plan.Held, failed, unknown);
        return new PayoutRunResult(period, false, sent, sentUsd, plan.Carried, plan.Held, failed, unknown, plan.AlreadyPaid, problems);
    }

    /// <summary>
    /// Decides each influencer's row for the period in one short transaction. Its transaction-scoped advisory lock orders
    /// concurrent plans (no remote call happens under it), so two runs never both count the same balance as payable.
    /// </summary>
    private async Task<Plan> PlanAsync(string period, DateTimeOffset now, StripeOptions settings, CancellationToken ct)
    {
        var problems = new List<PayoutProblem>();
        int carried = 0, held = 0, alreadyPaid = 0;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(@k)", new { k = PlanLockKey }, tx, cancellationToken: ct));

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
            new { now, period }, tx, cancellationToken: ct, commandTimeout: 600));

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

            var key = PayoutKey(row.InfluencerId, period);
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
            }
        }

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
        return new Plan(carried, held, alreadyPaid, problems);
    }

    public static string PayoutKey(string influencerId, string period) => $"payout:{influencerId}:{period}";

    /// <summary>Reconciles when an earlier attempt may have reached Stripe, else transfers; records the answer. No transaction is open here.</summary>
    private async Task<Outcome> PayAsync(PayoutClaim claim, CancellationToken ct)
    {
        Transfer? transfer;
        try
        {
            transfer = claim.OutcomeUnknown ? await FindAsync(claim, ct) : null;
            if (transfer is not null)
            {
                LogReconciled(logger, claim.InfluencerId, claim.Period, transfer.Id);
            }

            transfer ??= await new TransferService(stripe.Client).CreateAsync(
                new TransferCreateOptions
                {
                    Amount = claim.Amount,
                    Currency = "usd",
                    Destination = claim.AccountId,
                    TransferGroup = claim.IdempotencyKey,
                    Description = $"Sunaiva commissions {claim.Period}",
                    Metadata = new Dictionary<string, string>
                    {
                        ["payout_key"] = claim.IdempotencyKey,
                        ["influencer_id"] = claim.InfluencerId,
                        ["period"] = claim.Period,
                    },
                },
                StripeGateway.Idempotent(claim.IdempotencyKey),
                ct);
        }
        catch (StripeException ex) when (IsDefiniteRefusal(ex))
        {
            StripeProblems.Log(logger, ex, "transfer");
            var failure = ex.StripeError?.Code ?? ex.StripeError?.Type ?? "transfer refused";
            await store.RecordFailedAsync(claim, failure, ct);
            BillingTelemetry.TransfersMade.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));
            return new Outcome("failed", failure);
        }
        catch (Exception ex) when (ex is StripeException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            // No answer (or a 409/429/5xx): the transfer may exist. The row stays pending and the next try looks it up first.
            LogUnknown(logger, claim.InfluencerId, claim.Period, ex.GetType().Name);
            const string reason = "Stripe did not answer; the transfer is looked up at Stripe before any retry";
            await store.RecordUnknownAsync(claim, reason, ct);
            BillingTelemetry.TransfersMade.Add(1, new KeyValuePair<string, object?>("outcome", "unknown"));
            return new Outcome("unknown", reason);
        }

        if (AfterTransfer is { } seam)
        {
            await seam(claim, ct);
        }

        await store.RecordSentAsync(claim, transfer.Id, ct);
        BillingTelemetry.TransfersMade.Add(1, new KeyValuePair<string, object?>("outcome", "sent"));
        return new Outcome("sent", null);
    }

    /// <summary>The transfer an earlier attempt made for this payout, if Stripe has one.</summary>
    private async Task<Transfer?> FindAsync(PayoutClaim claim, CancellationToken ct)
    {
        var service = new TransferService(stripe.Client);
        var byGroup = await service.ListAsync(new TransferListOptions { TransferGroup = claim.IdempotencyKey, Destination = claim.AccountId, Limit = 10 }, cancellationToken: ct);
        if (byGroup.Data.FirstOrDefault(t => t.TransferGroup == claim.IdempotencyKey) is { } found)
        {
            return found;
        }

        // Transfers made before transfer_group carried the payout key are found by destination and metadata.
        await foreach (var transfer in service.ListAutoPagingAsync(new TransferListOptions { Destination = claim.AccountId, Limit = 100 }, cancellationToken: ct))
        {
            if (transfer.Metadata is { } metadata
                && (metadata.GetValueOrDefault("payout_key") == claim.IdempotencyKey
                    || (metadata.GetValueOrDefault("influencer_id") == claim.InfluencerId && metadata.GetValueOrDefault("period") == claim.Period)))
            {
                return transfer;
            }
        }

        return null;
    }

    /// <summary>A 4xx that says the transfer was not made (409 idempotency conflicts and 429 rate limits say nothing about that).</summary>
    private static bool IsDefiniteRefusal(StripeException ex) =>
        (int)ex.HttpStatusCode is >= 400 and < 500 and not 409 and not 429 && ex.StripeError?.Type != "idempotency_error";

    private sealed record Plan(int Carried, int Held, int AlreadyPaid, IReadOnlyList<PayoutProblem> Problems);

    private sealed record Outcome(string Status, string? Reason);

    internal sealed record BalanceRow(string InfluencerId, string? AccountId, bool PayoutsEnabled, string? DisabledReason, long Balance, string? CurrentStatus);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Transfer for influencer {InfluencerId} period {Period} has an unknown outcome ({Error}); it stays pending and is reconciled before any retry")]
    private static partial void LogUnknown(ILogger logger, string influencerId, string period, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Payout of influencer {InfluencerId} period {Period} found at Stripe as {TransferId}: recorded as sent, not transferred again")]
    private static partial void LogReconciled(ILogger logger, string influencerId, string period, string transferId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Payout run {Period}: {Sent} sent ({SentUsd} cents), {Carried} carried over, {Held} held, {Failed} failed, {Unknown} unknown")]
    private static partial void LogRunFinished(ILogger logger, string period, int sent, long sentUsd, int carried, int held, int failed, int unknown);
}
