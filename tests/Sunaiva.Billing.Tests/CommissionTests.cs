using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Sunaiva.Testing;

namespace Sunaiva.Billing.Tests;

[Collection(ServersCollection.Name)]
public sealed class CommissionTests(LocalServers servers) : BillingTestBase(servers)
{
    private sealed record Entry(string Kind, string Currency, long Amount, long AmountUsd, DateTime AvailableAt);

    private async Task<List<Entry>> EntriesAsync() => await App.QueryAsync<Entry>(
        "SELECT kind, currency, amount, amount_usd AS amountusd, available_at AS availableat FROM commission_entries ORDER BY id");

    private async Task DeliverAndWaitAsync(string type, JsonObject obj, long created)
    {
        var stripeEvent = StripeObjects.Event(NewEventId(), type, obj, created);
        (await App.DeliverAsync(stripeEvent)).EnsureSuccessStatusCode();
        await App.WaitProcessedAsync((string)stripeEvent["id"]!);
    }

    [Fact]
    public async Task Paid_invoice_earns_the_rate_of_the_amount_net_of_tax_valued_in_usd_from_the_balance_transaction()
    {
        await OwnedCodesAsync("alice");
        (await App.ClientFor("user-c").PostAsJsonAsync("/billing/referral", new { referralCode = "alice" })).EnsureSuccessStatusCode();
        await ActiveSubscriptionAsync("user-c", "cus_c", "sub_c");
        // 11.90 EUR paid (after a promotion code) of which 1.90 VAT; the charge settled as 13.00 USD.
        var paidAt = Now - 60;
        Stripe.Put(StripeObjects.Invoice("in_c", "cus_c", "sub_c", "paid", 1190, 190, "eur", "pi_c", paidAt));
        var (intent, charge) = StripeObjects.PaymentIntent("pi_c", "ch_c", "cus_c", 1190, "eur", 1300);
        Stripe.Put(intent);

        await DeliverAndWaitAsync("invoice.paid", Stripe.Get("in_c"), Now);
        await DeliverAndWaitAsync("invoice.paid", Stripe.Get("in_c"), Now);

        var entry = Assert.Single(await EntriesAsync());
        Assert.Equal(("commission", "eur", 200L, 218L), (entry.Kind, entry.Currency, entry.Amount, entry.AmountUsd));
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(paidAt).AddDays(30).UtcDateTime, entry.AvailableAt);
        Assert.Equal(1, await OutboxCountAsync("commission.earned"));

        // Half refunded: half the commission comes back, at once. The same refund delivered twice counts once.
        var refunded = StripeObjects.Charge("ch_c", "cus_c", 1190, "eur", 595);
        Stripe.Put(refunded);
        await DeliverAndWaitAsync("charge.refunded", refunded, Now);
        await DeliverAndWaitAsync("charge.refunded", refunded, Now);
        // Then the rest is disputed and lost: what is left is clawed back.
        Stripe.Put(StripeObjects.Dispute("dp_c", "ch_c", "lost"));
        await DeliverAndWaitAsync("charge.dispute.closed", Stripe.Get("dp_c"), Now);

        var entries = await EntriesAsync();
        Assert.Equal([("commission", 218L), ("refund", -109L), ("dispute", -109L)], entries.Select(e => (e.Kind, e.AmountUsd)));
        Assert.Equal(0, entries.Sum(e => e.Amount));
        Assert.True(entries.Skip(1).All(e => e.AvailableAt <= Time.GetUtcNow().UtcDateTime));

        // Each clawback is announced once (influencer reports count them), the refund delivered twice included.
        var clawbacks = await App.QueryAsync<(string Reason, long AmountUsd)>(
            "SELECT payload->>'reason', (payload->>'amountUsd')::bigint FROM outbox WHERE type = 'commission.clawed_back' ORDER BY occurred_at, id");
        Assert.Equal([("refund", 109L), ("dispute", 109L)], clawbacks.OrderByDescending(c => c.Reason));
    }

    [Fact]
    public async Task Unattributed_customer_earns_no_commission()
    {
        await ActiveSubscriptionAsync("user-n", "cus_n", "sub_n");
        Stripe.Put(StripeObjects.Invoice("in_n", "cus_n", "sub_n", "paid", 999, 0, "usd", "pi_n", Now));
        Stripe.Put(StripeObjects.PaymentIntent("pi_n", "ch_n", "cus_n", 999, "usd", 999).Intent);

        await DeliverAndWaitAsync("invoice.paid", Stripe.Get("in_n"), Now);

        Assert.Empty(await EntriesAsync());
        Assert.Equal("done", await App.QueryOneAsync<string>("SELECT status FROM stripe_events WHERE type = 'invoice.paid'"));
    }

    [Fact]
    public async Task Influencer_onboards_through_connect_express_and_account_updated_enables_payouts()
    {
        var client = App.ClientFor("influencer-1");
        var response = await client.PostAsJsonAsync("/influencers", new { referralCode = "bob", country = "GB", email = "bob@example.com" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var onboarding = await JsonAsync(response);
        var accountId = (string)onboarding["accountId"]!;
        Assert.Contains(accountId, (string?)onboarding["onboardingUrl"], StringComparison.Ordinal);

        var create = Stripe.RequestsTo("POST", "/v1/accounts").Single();
        Assert.Equal("express", create.Form["type"]);
        Assert.Equal("true", create.Form["capabilities[transfers][requested]"]);
        Assert.Equal("account_onboarding", Stripe.RequestsTo("POST", "/v1/account_links").Single().Form["type"]);

        // Asking again returns a new link for the same account.
        Assert.Equal(accountId, (string?)(await JsonAsync(await client.PostAsJsonAsync("/influencers", new { referralCode = "bob", country = "GB" })))["accountId"]);
        Assert.Single(Stripe.RequestsTo("POST", "/v1/accounts"));
        Assert.Equal(HttpStatusCode.Conflict, (await App.ClientFor("influencer-2").PostAsJsonAsync("/influencers", new { referralCode = "BOB", country = "GB" })).StatusCode);

        var account = Stripe.Get(accountId);
        account["payouts_enabled"] = true;
        account["details_submitted"] = true;
        account["requirements"]!["disabled_reason"] = null;
        await DeliverAndWaitAsync("account.updated", account, Now);

        var id = (string)onboarding["id"]!;
        var earnings = await client.GetFromJsonAsync<JsonObject>($"/influencers/{id}/earnings");
        Assert.True((bool)earnings!["payoutsEnabled"]!);
        Assert.Equal(HttpStatusCode.NotFound, (await App.ClientFor("someone-else").GetAsync($"/influencers/{id}/earnings")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await App.ClientFor("ops-1", ops: true).GetAsync($"/influencers/{id}/earnings")).StatusCode);
    }
}
