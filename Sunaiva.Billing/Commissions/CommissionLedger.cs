using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Stripe;
using EventTypes = Sunaiva.Contracts.EventTypes;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Billing.Commissions;

public sealed record CommissionEarned(string ReferralCode, string UserId, string InvoiceId, string Currency, long Amount, long AmountUsd, DateTimeOffset AvailableAt);

/// <summary>
/// <c>commission.clawed_back</c>: part of a commission taken back after a refund or a lost dispute. Amounts are what was
/// taken back (positive, minor units); <paramref name="Reason"/> is <c>refund</c> or <c>dispute</c>.
/// </summary>
public sealed record CommissionClawedBack(string ReferralCode, string? UserId, string? InvoiceId, string ChargeId, string Reason, string Currency, long Amount, long AmountUsd);

/// <summary>
/// The append-only commission ledger. Each fact is one row keyed by an idempotency key, so a redelivered or
/// replayed event adds nothing. Earnings wait out the hold period; clawbacks count at once.
/// </summary>
public sealed partial class CommissionLedger(StripeGateway stripe, EventOutbox outbox, IOptions<StripeOptions> options, TimeProvider time, ILogger<CommissionLedger> logger)
{
    /// <summary>Earns the referrer's share of a paid invoice: rate × (amount paid − tax); amount paid is already net of discounts.</summary>
    public async Task EarnAsync(NpgsqlConnection connection, NpgsqlTransaction tx, Invoice invoice, string userId, CancellationToken ct)
    {
        var code = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT referral_code FROM referral_attributions WHERE user_id = @userId", new { userId }, tx, cancellationToken: ct));
        if (code is null)
        {
            return;
        }

        var tax = invoice.TotalTaxes?.Sum(t => t.Amount) ?? 0;
        var net = invoice.AmountPaid - tax;
        if (net <= 0)
        {
            return;
        }

        var rate = options.Value.CommissionRate;
        var amount = (long)Math.Round(net * rate, MidpointRounding.AwayFromZero);
        var (chargeId, usdPerUnit) = await SettlementAsync(invoice, ct);
        var amountUsd = (long)Math.Round(amount * usdPerUnit, MidpointRounding.AwayFromZero);
        var paidAt = StripeDates.OrNull(invoice.StatusTransitions?.PaidAt) is { } paid ? new DateTimeOffset(paid, TimeSpan.Zero) : time.GetUtcNow();
        var availableAt = paidAt + options.Value.HoldPeriod;
        var inserted = await InsertAsync(connection, tx, code, "commission", $"commission:{invoice.Id}", userId, invoice.Id, chargeId,
            invoice.Currency, amount, amountUsd, rate, availableAt, ct);
        if (inserted)
        {
            await outbox.AddAsync(connection, tx, EventTypes.CommissionEarned,
                new CommissionEarned(code, userId, invoice.Id, invoice.Currency, amount, amountUsd, availableAt), $"commission.earned:{invoice.Id}", ct);
        }
    }

    /// <summary>Claws back the refunded share: the total clawed back for a charge follows its cumulative refunded amount.</summary>
    public async Task ClawBackRefundAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string chargeId, long chargeAmount, long amountRefunded, CancellationToken ct)
    {
        var earned = await EarnedForChargeAsync(connection, tx, chargeId, ct);
        if (earned is null || chargeAmount <= 0 || amountRefunded <= 0)
        {
            return;
        }

        var fraction = Math.Min(1m, (decimal)amountRefunded / chargeAmount);
        var targetUsd = (long)Math.Round(earned.AmountUsd * fraction, MidpointRounding.AwayFromZero);
        var target = (long)Math.Round(earned.Amount * fraction, MidpointRounding.AwayFromZero);
        var (clawedUsd, clawed) = await ClawedBackAsync(connection, tx, chargeId, ct);
        var deltaUsd = Math.Min(targetUsd, earned.AmountUsd) - clawedUsd;
        if (deltaUsd <= 0)
        {
            return;
        }

        var key = $"refund:{chargeId}:{amountRefunded}";
        var amount = Math.Max(0, target - clawed);
        await InsertAsync(connection, tx, earned.ReferralCode, "refund", key, earned.UserId, earned.InvoiceId, chargeId,
            earned.Currency, -amount, -deltaUsd, earned.Rate, time.GetUtcNow(), ct);
        await outbox.AddAsync(connection, tx, EventTypes.CommissionClawedBack,
            new CommissionClawedBack(earned.ReferralCode, earned.UserId, earned.InvoiceId, chargeId, "refund", earned.Currency, amount, deltaUsd), $"commission.clawed_back:{key}", ct);
    }

    /// <summary>A lost dispute takes back whatever of the commission is not clawed back yet.</summary>
    public async Task ClawBackDisputeAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string disputeId, string chargeId, CancellationToken ct)
    {
        var earned = await EarnedForChargeAsync(connection, tx, chargeId, ct);
        if (earned is null)
        {
            return;
        }

        var (clawedUsd, clawed) = await ClawedBackAsync(connection, tx, chargeId, ct);
        var deltaUsd = earned.AmountUsd - clawedUsd;
        if (deltaUsd <= 0)
        {
            return;
        }

        var key = $"dispute:{disputeId}";
        await InsertAsync(connection, tx, earned.ReferralCode, "dispute", key, earned.UserId, earned.InvoiceId, chargeId,
            earned.Currency, -(earned.Amount - clawed), -deltaUsd, earned.Rate, time.GetUtcNow(), ct);
        await outbox.AddAsync(connection, tx, EventTypes.CommissionClawedBack,
            new CommissionClawedBack(earned.ReferralCode, earned.UserId, earned.InvoiceId, chargeId, "dispute", earned.Currency, earned.Amount - clawed, deltaUsd), $"commission.clawed_back:{key}", ct);
    }

    /// <summary>Charge of the invoice's payment and the USD value of one unit of invoice currency, from its balance transaction.</summary>
    private async Task<(string? ChargeId, decimal UsdPerUnit)> SettlementAsync(Invoice invoice, CancellationToken ct)
    {
        var payment = invoice.Payments?.Data?.FirstOrDefault(p => p.Status == "paid") ?? invoice.Payments?.Data?.FirstOrDefault();
        Charge? charge = null;
        if (payment?.Payment?.PaymentIntentId is { } paymentIntentId)
        {
            var intent = await new PaymentIntentService(stripe.Client).GetAsync(paymentIntentId,
                new PaymentIntentGetOptions { Expand = ["latest_charge.balance_transaction"] }, cancellationToken: ct);
            charge = intent.LatestCharge;
        }
        else if (payment?.Payment?.ChargeId is { } chargeId)
        {
            charge = await new ChargeService(stripe.Client).GetAsync(chargeId, new ChargeGetOptions { Expand = ["balance_transaction"] }, cancellationToken: ct);
        }

        var balance = charge?.BalanceTransaction;
        if (charge is not null && balance is not null && balance.Currency == "usd" && charge.Amount > 0)
        {
            return (charge.Id, (decimal)balance.Amount / charge.Amount);
        }

        if (invoice.Currency == "usd")
        {
            return (charge?.Id, 1m);
        }

        // Without a USD balance transaction the commission cannot be valued; fail so ops see it (dead letter) instead of guessing.
        LogNoUsdValue(logger, invoice.Id);
        throw new InvalidOperationException($"Invoice {invoice.Id} has no USD balance transaction to value its commission.");
    }

    private async Task<bool> InsertAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string code, string kind, string key, string? userId,
        string? invoiceId, string? chargeId, string currency, long amount, long amountUsd, decimal rate, DateTimeOffset availableAt, CancellationToken ct) =>
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO commission_entries (referral_code, kind, idempotency_key, user_id, invoice_id, charge_id, currency, amount, amount_usd, rate, available_at, created_at)
            VALUES (@code, @kind, @key, @userId, @invoiceId, @chargeId, @currency, @amount, @amountUsd, @rate, @availableAt, @now)
            ON CONFLICT (idempotency_key) DO NOTHING
            """,
            new { code, kind, key, userId, invoiceId, chargeId, currency, amount, amountUsd, rate, availableAt, now = time.GetUtcNow() }, tx, cancellationToken: ct)) == 1;

    private static Task<EarnedRow?> EarnedForChargeAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string chargeId, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<EarnedRow>(new CommandDefinition(
            """
            SELECT referral_code AS referralcode, user_id AS userid, invoice_id AS invoiceid, currency, amount, amount_usd AS amountusd, rate
            FROM commission_entries WHERE charge_id = @chargeId AND kind = 'commission' LIMIT 1
            """,
            new { chargeId }, tx, cancellationToken: ct));

    private static async Task<(long Usd, long Amount)> ClawedBackAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string chargeId, CancellationToken ct)
    {
        var row = await connection.QuerySingleAsync<(long, long)>(new CommandDefinition(
            "SELECT COALESCE(-SUM(amount_usd), 0)::bigint, COALESCE(-SUM(amount), 0)::bigint FROM commission_entries WHERE charge_id = @chargeId AND kind <> 'commission'",
            new { chargeId }, tx, cancellationToken: ct));
        return row;
    }

    private sealed record EarnedRow(string ReferralCode, string? UserId, string? InvoiceId, string Currency, long Amount, long AmountUsd, decimal Rate);

    [LoggerMessage(Level = LogLevel.Error, Message = "Invoice {InvoiceId} has no USD balance transaction; its commission cannot be valued")]
    private static partial void LogNoUsdValue(ILogger logger, string invoiceId);
}
