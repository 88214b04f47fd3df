using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Testing;

namespace Sunaiva.Billing.Tests;

[Collection(ServersCollection.Name)]
public sealed class PayoutTests(LocalServers servers) : BillingTestBase(servers)
{
    private int _entries;

    private async Task<(string Id, string AccountId)> InfluencerAsync(string code, bool payoutsEnabled = true, string? disabledReason = null)
    {
        var id = "inf_" + code.ToLowerInvariant();
        var account = Stripe.Put(FakeStripe.Fixture("account"));
        var accountId = Stripe.NewId("acct");
        account["id"] = accountId;
        Stripe.Put(account);
        await App.ExecuteAsync(
            """
            INSERT INTO influencers (id, user_id, referral_code, stripe_account_id, country, payouts_enabled, disabled_reason, created_at, updated_at)
            VALUES (@id, @user, @code, @accountId, 'US', @payoutsEnabled, @disabledReason, now(), now())
            """,
            new { id, user = "user-" + id, code, accountId, payoutsEnabled, disabledReason });
        return (id, accountId);
    }

    /// <summary>A ledger entry past its hold period (or a clawback, when negative).</summary>
    private Task EntryAsync(string code, long amountUsd) =>
        App.ExecuteAsync(
            """
            INSERT INTO commission_entries (referral_code, kind, idempotency_key, currency, amount, amount_usd, rate, available_at, created_at)
            VALUES (@code, @kind, @key, 'usd', @amountUsd, @amountUsd, 0.2, @availableAt, @now)
            """,
            new { code, kind = amountUsd >= 0 ? "commission" : "refund", key = $"test:{Interlocked.Increment(ref _entries)}", amountUsd, availableAt = Time.GetUtcNow().AddDays(-1), now = Time.GetUtcNow() });

    private async Task<JsonObject> RunAsync(string period)
    {
        var response = await App.ClientFor("ops-1", ops: true).PostAsJsonAsync("/ops/billing/payouts/run", new { period });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await JsonAsync(response);
    }

    private List<StripeRequest> Transfers(string? destination = null) =>
        Stripe.RequestsTo("POST", "/v1/transfers").Where(r => destination is null || r.Form["destination"] == destination).ToList();

    private async Task<string> PayoutStatusAsync(string id, string period) =>
        await App.QueryOneAsync<string>("SELECT status FROM payouts WHERE influencer_id = @id AND period = @period", new { id, period });

    [Fact]
    public async Task Balance_of_49_99_carries_over_and_50_00_pays()
    {
        var (low, lowAccount) = await InfluencerAsync("LOW");
        var (even, evenAccount) = await InfluencerAsync("EVEN");
        await EntryAsync("LOW", 4999);
        await EntryAsync("EVEN", 5000);

        var result = await RunAsync("2026-10");

        Assert.Equal((1, 1), ((int)result["sent"]!, (int)result["carriedOver"]!));
        Assert.Empty(Transfers(lowAccount));
        var transfer = Assert.Single(Transfers(evenAccount));
        Assert.Equal(("5000", "usd", $"payout:{even}:2026-10"), (transfer.Form["amount"], transfer.Form["currency"], transfer.IdempotencyKey));
        Assert.Equal("carried_over", await PayoutStatusAsync(low, "2026-10"));
        Assert.Equal("sent", await PayoutStatusAsync(even, "2026-10"));
        Assert.Equal(1, await OutboxCountAsync("payout.sent"));

        // The carried balance plus one cent crosses the minimum next month.
        await EntryAsync("LOW", 1);
        await RunAsync("2026-11");
        Assert.Equal("5000", Assert.Single(Transfers(lowAccount)).Form["amount"]);
        Assert.Single(Transfers(evenAccount));
    }

    [Fact]
    public async Task Blocked_account_is_held_with_its_reason()
    {
        var (blocked, account) = await InfluencerAsync("BLOCKED", payoutsEnabled: false, disabledReason: "requirements.past_due");
        await EntryAsync("BLOCKED", 9000);

        var result = await RunAsync("2026-10");

        Assert.Empty(Transfers(account));
        Assert.Equal(1, (int)result["held"]!);
        Assert.Equal("requirements.past_due", (string?)result["problems"]![0]!["reason"]);
        Assert.Equal(("held", "requirements.past_due"),
            await App.QueryOneAsync<(string, string)>("SELECT status, reason FROM payouts WHERE influencer_id = @blocked", new { blocked }));
    }

    [Fact]
    public async Task Clawback_after_a_payout_reduces_the_next_one()
    {
        var (id, account) = await InfluencerAsync("CLAW");
        await EntryAsync("CLAW", 6000);
        await RunAsync("2026-10");
        await EntryAsync("CLAW", -1500);
        await EntryAsync("CLAW", 7000);

        await RunAsync("2026-11");

        Assert.Equal(["6000", "5500"], Transfers(account).Select(t => t.Form["amount"]));
        var earnings = await App.ClientFor("user-" + id).GetFromJsonAsync<JsonObject>($"/influencers/{id}/earnings");
        Assert.Equal((11500L, 0L), ((long)earnings!["paidUsd"]!, (long)earnings["payableUsd"]!));
    }

    [Fact]
    public async Task Running_twice_or_concurrently_makes_one_transfer_per_influencer()
    {
        var influencers = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var code = $"TWICE{i}";
            influencers.Add((await InfluencerAsync(code)).AccountId);
            await EntryAsync(code, 6000 + i);
        }

        var results = await Task.WhenAll(RunAsync("2026-10"), RunAsync("2026-10"));
        var again = await RunAsync("2026-10");

        Assert.Equal(5, Transfers().Count);
        Assert.Equal(influencers.Order(), Transfers().Select(t => t.Form["destination"]).Order());
        Assert.Equal(5, results.Sum(r => (int)r["sent"]!));
        Assert.Equal((0, 5), ((int)again["sent"]!, (int)again["alreadyPaid"]!));
        Assert.Equal(5, await OutboxCountAsync("payout.sent"));
    }

    [Fact]
    public async Task Failed_transfer_is_reported_and_retried_next_month()
    {
        var (id, account) = await InfluencerAsync("FAIL");
        await EntryAsync("FAIL", 7000);
        Stripe.FailingDestinations[account] = "balance_insufficient";

        var october = await RunAsync("2026-10");

        Assert.Equal(1, (int)october["failed"]!);
        Assert.Equal("balance_insufficient", (string?)october["problems"]![0]!["reason"]);
        Assert.Equal("failed", await PayoutStatusAsync(id, "2026-10"));
        Assert.Equal(1, await OutboxCountAsync("payout.failed"));

        Stripe.FailingDestinations.Clear();
        await EntryAsync("FAIL", 1000);
        var november = await RunAsync("2026-11");

        Assert.Equal(1, (int)november["sent"]!);
        Assert.Equal(
            [($"payout:{id}:2026-10", "7000"), ($"payout:{id}:2026-11", "8000")],
            Transfers(account).Select(t => (t.IdempotencyKey, t.Form["amount"])));
        Assert.Equal("sent", await PayoutStatusAsync(id, "2026-11"));
    }

    [Fact]
    public async Task Commission_inside_the_hold_period_waits_for_a_later_run()
    {
        var (id, account) = await InfluencerAsync("HOLD");
        await EntryAsync("HOLD", 5000);
        await App.ExecuteAsync(
            """
            INSERT INTO commission_entries (referral_code, kind, idempotency_key, currency, amount, amount_usd, rate, available_at, created_at)
            VALUES ('HOLD', 'commission', 'test:hold', 'usd', 9000, 9000, 0.2, @availableAt, @now)
            """,
            new { availableAt = Time.GetUtcNow().AddDays(10), now = Time.GetUtcNow() });

        await RunAsync("2026-10");

        Assert.Equal("5000", Assert.Single(Transfers(account)).Form["amount"]);
        var earnings = await App.ClientFor("ops-1", ops: true).GetFromJsonAsync<JsonObject>($"/influencers/{id}/earnings");
        Assert.Equal((9000L, 0L), ((long)earnings!["onHoldUsd"]!, (long)earnings["payableUsd"]!));
    }

    [Fact]
    public async Task Transfer_left_pending_by_a_crash_is_finished_with_its_own_key_and_paid_once()
    {
        var (id, account) = await InfluencerAsync("CRASH");
        await EntryAsync("CRASH", 6000);
        // A run wrote the pending row and died before (or after) Stripe answered.
        await App.ExecuteAsync(
            """
            INSERT INTO payouts (influencer_id, period, status, amount_usd, idempotency_key, created_at, updated_at)
            VALUES (@id, '2026-10', 'pending', 6000, @key, now(), now())
            """,
            new { id, key = $"payout:{id}:2026-10" });

        var november = await RunAsync("2026-11");

        Assert.Equal(1, (int)november["sent"]!);
        var transfer = Assert.Single(Transfers(account));
        Assert.Equal(($"payout:{id}:2026-10", "6000"), (transfer.IdempotencyKey, transfer.Form["amount"]));
        Assert.Equal("sent", await PayoutStatusAsync(id, "2026-10"));
        Assert.Equal(0, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM payouts WHERE influencer_id = @id AND period = '2026-11'", new { id }));
    }

    private Sunaiva.Billing.Payouts.PayoutRunner Runner => App.Services.GetRequiredService<Sunaiva.Billing.Payouts.PayoutRunner>();

    [Fact]
    public async Task Transfer_whose_answer_was_lost_is_found_at_stripe_next_month_marked_paid_and_not_paid_twice()
    {
        var (id, account) = await InfluencerAsync("LOST");
        await EntryAsync("LOST", 6000);
        var period = Sunaiva.Billing.Payouts.PayoutRunner.PeriodFor(Time.GetUtcNow());
        Stripe.LostResponses["/v1/transfers"] = true;

        var first = await Runner.RunAsync(period, CancellationToken.None);

        // Stripe made the transfer; we never heard. Unknown, not failed, and the amount stays reserved.
        var made = Assert.Single(Stripe.ObjectsOf("transfer"));
        Assert.Equal((0, 1, "unknown"), (first.Failed, first.Unknown, Assert.Single(first.Problems).Status));
        Assert.Equal("pending", await PayoutStatusAsync(id, period));
        Assert.Equal(0, await OutboxCountAsync("payout.failed"));
        var request = Assert.Single(Transfers(account));
        Assert.Equal(($"payout:{id}:{period}", $"payout:{id}:{period}"), (request.Form["transfer_group"], request.Form["metadata[payout_key]"]));

        // A month later Stripe has long forgotten the idempotency key (24 h); the next run looks the transfer up instead.
        Stripe.LostResponses.Clear();
        Time.Advance(TimeSpan.FromDays(31));
        var next = await Runner.RunAsync(Sunaiva.Billing.Payouts.PayoutRunner.PeriodFor(Time.GetUtcNow()), CancellationToken.None);

        Assert.Single(Stripe.ObjectsOf("transfer"));
        Assert.Single(Transfers(account));
        Assert.Equal((1, 0, 0), (next.Sent, next.Unknown, next.Failed));
        Assert.Equal(("sent", (string)made["id"]!), await App.QueryOneAsync<(string, string)>(
            "SELECT status, stripe_transfer_id FROM payouts WHERE influencer_id = @id AND period = @period", new { id, period }));
        Assert.Equal(1, await OutboxCountAsync("payout.sent"));
        Assert.NotEmpty(Stripe.RequestsTo("GET", "/v1/transfers"));
    }

    [Fact]
    public async Task Crash_between_the_transfer_and_its_recording_is_reconciled_next_month_without_a_second_transfer()
    {
        var (id, account) = await InfluencerAsync("CRASHED");
        await EntryAsync("CRASHED", 7000);
        var period = Sunaiva.Billing.Payouts.PayoutRunner.PeriodFor(Time.GetUtcNow());
        Runner.AfterTransfer = (_, _) => throw new InvalidOperationException("process killed after Stripe answered");
        try
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => Runner.RunAsync(period, CancellationToken.None));
        }
        finally
        {
            Runner.AfterTransfer = null;
        }

        Assert.Single(Stripe.ObjectsOf("transfer"));
        Assert.Equal("pending", await PayoutStatusAsync(id, period));

        Time.Advance(TimeSpan.FromDays(31));
        var next = await Runner.RunAsync(Sunaiva.Billing.Payouts.PayoutRunner.PeriodFor(Time.GetUtcNow()), CancellationToken.None);

        Assert.Equal(1, next.Sent);
        Assert.Single(Stripe.ObjectsOf("transfer"));
        Assert.Single(Transfers(account));
        Assert.Equal("sent", await PayoutStatusAsync(id, period));
        Assert.Equal(1, await OutboxCountAsync("payout.sent"));
    }

    [Fact]
    public async Task Payout_run_refuses_a_future_period()
    {
        var (id, account) = await InfluencerAsync("FUTURE");
        await EntryAsync("FUTURE", 6000);
        var future = Time.GetUtcNow().AddMonths(1).ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);

        var response = await App.ClientFor("ops-1", ops: true).PostAsJsonAsync("/ops/billing/payouts/run", new { period = future });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Empty(Transfers(account));
        Assert.Equal(0, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM payouts WHERE influencer_id = @id", new { id }));
    }

    [Fact]
    public async Task Reversed_transfer_makes_the_amount_payable_again()
    {
        var (id, account) = await InfluencerAsync("REV");
        await EntryAsync("REV", 6000);
        await RunAsync("2026-10");
        var transferId = await App.QueryOneAsync<string>("SELECT stripe_transfer_id FROM payouts WHERE influencer_id = @id", new { id });
        var transfer = Stripe.Get(transferId);
        transfer["reversed"] = true;
        transfer["amount_reversed"] = 6000;
        var reversed = StripeObjects.Event(NewEventId(), "transfer.reversed", transfer, Now);
        (await App.DeliverAsync(reversed)).EnsureSuccessStatusCode();
        await App.WaitProcessedAsync((string)reversed["id"]!);

        Assert.Equal("reversed", await PayoutStatusAsync(id, "2026-10"));
        Assert.Equal(1, await OutboxCountAsync("payout.failed"));
        await RunAsync("2026-11");
        Assert.Equal(["6000", "6000"], Transfers(account).Select(t => t.Form["amount"]));
    }

    [Fact]
    public async Task Ops_reports_give_mrr_subscriptions_and_commissions_per_period_as_json_and_csv()
    {
        await ActiveSubscriptionAsync("user-r", "cus_r", "sub_r");
        var (id, _) = await InfluencerAsync("REPORT");
        await EntryAsync("REPORT", 6000);
        await RunAsync(Time.GetUtcNow().ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture));
        var ops = App.ClientFor("ops-1", ops: true);

        var report = await ops.GetFromJsonAsync<JsonObject>("/ops/billing/reports");
        Assert.Equal(1, (int)report!["activeSubscriptions"]!);
        Assert.Equal(999, (long)report["mrr"]![0]!["monthlyAmount"]!);
        var current = report["periods"]!.AsArray().Last()!;
        Assert.Equal((6000L, 6000L), ((long)current["commissionsEarnedUsd"]!, (long)current["payoutsPaidUsd"]!));

        var csv = await ops.GetAsync("/ops/billing/reports?format=csv");
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        var text = await csv.Content.ReadAsStringAsync();
        Assert.StartsWith("period,new_subscriptions,churned_subscriptions,failed_payments", text, StringComparison.Ordinal);
        Assert.Contains(",60.00,0.00,60.00,0.00", text, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.ClientFor("user-r").GetAsync("/ops/billing/reports")).StatusCode);
        _ = id;
    }
}
