using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Sunaiva.Testing;

namespace Sunaiva.Billing.Tests;

[Collection(ServersCollection.Name)]
public sealed class SubscriptionMirrorTests(LocalServers servers) : BillingTestBase(servers)
{
    private async Task DeliverAndWaitAsync(string type, JsonObject obj)
    {
        var stripeEvent = StripeObjects.Event(NewEventId(), type, obj, Now);
        (await App.DeliverAsync(stripeEvent)).EnsureSuccessStatusCode();
        await App.WaitProcessedAsync((string)stripeEvent["id"]!);
    }

    [Fact]
    public async Task Dates_stripe_did_not_send_are_absent_not_1970()
    {
        var subscription = StripeObjects.Subscription("sub_nodates", "cus_nodates", "active", "user-nodates");
        subscription.Remove("created");
        subscription["items"]!["data"]![0]!.AsObject().Remove("current_period_end");
        Stripe.Put(subscription);

        await DeliverAndWaitAsync("customer.subscription.created", subscription);

        var view = await App.ClientFor("user-nodates").GetFromJsonAsync<JsonObject>("/billing/subscription");
        Assert.Equal("active", (string?)view!["status"]);
        Assert.Null(view["currentPeriodEnd"]);
        var (periodEnd, created) = await App.QueryOneAsync<(DateTime?, DateTime)>(
            "SELECT current_period_end, created_at FROM billing_subscriptions WHERE stripe_subscription_id = 'sub_nodates'");
        Assert.Null(periodEnd);
        Assert.True(created.Year > 1970, $"created_at stored as {created:O}");
    }

    [Fact]
    public async Task Subscription_mirrored_before_its_user_is_known_announces_activation_once_the_user_is_linked()
    {
        // Created outside our checkout (no user_id metadata) and delivered before checkout.session.completed.
        var subscription = Stripe.Put(StripeObjects.Subscription("sub_early", "cus_early", "active"));
        await DeliverAndWaitAsync("customer.subscription.created", subscription);
        Assert.Null(await App.QueryOneAsync<string?>("SELECT user_id FROM billing_subscriptions WHERE stripe_subscription_id = 'sub_early'"));
        Assert.Equal(0, await OutboxCountAsync("subscription.activated"));

        var session = FakeStripe.Fixture("checkout.session");
        session["id"] = "cs_test_early";
        session["mode"] = "subscription";
        session["customer"] = "cus_early";
        session["subscription"] = "sub_early";
        session["client_reference_id"] = "user-early";
        session["currency"] = "usd";
        session["payment_intent"] = null;
        Stripe.Put(session);
        await DeliverAndWaitAsync("checkout.session.completed", session);
        await DeliverAndWaitAsync("customer.subscription.updated", subscription);

        Assert.Equal(1, await OutboxCountAsync("subscription.activated"));
        var payload = await App.QueryOneAsync<string>("SELECT payload::text FROM outbox WHERE type = 'subscription.activated'");
        Assert.Contains("user-early", payload, StringComparison.Ordinal);
        var view = await App.ClientFor("user-early").GetFromJsonAsync<JsonObject>("/billing/subscription");
        Assert.True((bool)view!["hasAccess"]!);
    }

    [Fact]
    public async Task Linking_a_customer_at_checkout_announces_its_earlier_subscriptions()
    {
        // A subscription mirrored for a customer nobody was linked to; the user's next checkout creates the link.
        var client = App.ClientFor("user-linked");
        (await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" })).EnsureSuccessStatusCode();
        var customerId = Stripe.RequestsTo("POST", "/v1/checkout/sessions").Single().Form["customer"];
        await App.ExecuteAsync("DELETE FROM billing_customers");
        var subscription = Stripe.Put(StripeObjects.Subscription("sub_unlinked", customerId, "active"));
        await DeliverAndWaitAsync("customer.subscription.created", subscription);
        Assert.Equal(0, await OutboxCountAsync("subscription.activated"));

        // (Gone from Stripe's customer listing here, so only the link is under test, not the live-subscription check.)
        Stripe.Remove("sub_unlinked");
        (await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" })).EnsureSuccessStatusCode();

        Assert.Equal(1, await OutboxCountAsync("subscription.activated"));
        Assert.Equal("user-linked", await App.QueryOneAsync<string>("SELECT user_id FROM billing_subscriptions WHERE stripe_subscription_id = 'sub_unlinked'"));
    }
}
