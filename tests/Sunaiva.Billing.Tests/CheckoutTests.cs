using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Sunaiva.Testing;

namespace Sunaiva.Billing.Tests;

[Collection(ServersCollection.Name)]
public sealed class CheckoutTests(LocalServers servers) : BillingTestBase(servers)
{
    [Fact]
    public async Task Checkout_opens_a_subscription_session_in_the_users_currency_and_locale_with_dynamic_payment_methods()
    {
        await OwnedCodesAsync("alice");
        var client = App.ClientFor("user-de");
        var response = await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "DE", referralCode = "alice" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await JsonAsync(response);
        Assert.Equal("eur", (string?)body["currency"]);
        Assert.StartsWith("https://checkout.stripe.com/", (string?)body["url"], StringComparison.Ordinal);

        var customer = Stripe.RequestsTo("POST", "/v1/customers").Single();
        Assert.Equal("user-de", customer.Form["metadata[user_id]"]);
        Assert.Equal("ALICE", customer.Form["metadata[referral_code]"]);
        Assert.Equal("customer:user-de", customer.IdempotencyKey);

        var session = Stripe.RequestsTo("POST", "/v1/checkout/sessions").Single();
        Assert.Equal("subscription", session.Form["mode"]);
        Assert.Equal("eur", session.Form["currency"]);
        Assert.Equal("de", session.Form["locale"]);
        Assert.Equal("true", session.Form["allow_promotion_codes"]);
        Assert.Equal(StripeObjects.PriceId, session.Form["line_items[0][price]"]);
        Assert.Equal("user-de", session.Form["client_reference_id"]);
        Assert.DoesNotContain(session.Form.Keys, k => k.StartsWith("payment_method_types", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("GB", "gbp", "en-GB")]
    [InlineData("IN", "inr", "en-GB")]
    [InlineData("BR", "brl", "pt-BR")]
    [InlineData("AU", "aud", "en-GB")]
    [InlineData("US", "usd", "en")]
    public async Task Checkout_currency_and_locale_follow_the_country(string country, string currency, string locale)
    {
        var response = await App.ClientFor("user-" + country).PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var session = Stripe.RequestsTo("POST", "/v1/checkout/sessions").Single();
        Assert.Equal((currency, locale), (session.Form["currency"], session.Form["locale"]));
    }

    [Fact]
    public async Task Checkout_honours_the_idempotency_key()
    {
        var client = App.ClientFor("user-idem");
        async Task<string> CheckoutAsync(string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/billing/checkout") { Content = JsonContent.Create(new { plan = "plus-monthly", country = "US" }) };
            request.Headers.Add("Idempotency-Key", key);
            var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return (string)(await JsonAsync(response))["sessionId"]!;
        }

        var first = await CheckoutAsync("k-1");
        var retried = await CheckoutAsync("k-1");
        var other = await CheckoutAsync("k-2");

        Assert.Equal(first, retried);
        Assert.NotEqual(first, other);
        Assert.Equal(["checkout:user-idem:k-1", "checkout:user-idem:k-1", "checkout:user-idem:k-2"],
            Stripe.RequestsTo("POST", "/v1/checkout/sessions").Select(r => r.IdempotencyKey));
        Assert.Single(Stripe.RequestsTo("POST", "/v1/customers"));
    }

    [Fact]
    public async Task Unknown_plan_is_a_problem()
    {
        var response = await App.ClientFor("user-x").PostAsJsonAsync("/billing/checkout", new { plan = "gold", country = "US" });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Empty(Stripe.Requests);
    }

    [Fact]
    public async Task Portal_opens_for_the_users_customer()
    {
        var client = App.ClientFor("user-portal");
        Assert.Equal(HttpStatusCode.NotFound, (await client.PostAsync("/billing/portal", null)).StatusCode);
        (await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" })).EnsureSuccessStatusCode();

        var response = await client.PostAsync("/billing/portal", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var customerId = Stripe.RequestsTo("POST", "/v1/checkout/sessions").Single().Form["customer"];
        Assert.Equal(customerId, Stripe.RequestsTo("POST", "/v1/billing_portal/sessions").Single().Form["customer"]);
    }

    [Fact]
    public async Task Subscription_endpoint_returns_the_mirrored_state_and_entitlements()
    {
        var client = App.ClientFor("user-sub");
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/billing/subscription")).StatusCode);
        await ActiveSubscriptionAsync("user-sub", "cus_sub", "sub_sub");

        var view = await client.GetFromJsonAsync<JsonObject>("/billing/subscription");
        Assert.Equal("active", (string?)view!["status"]);
        Assert.Equal("plus-monthly", (string?)view["plan"]);
        Assert.True((bool)view["hasAccess"]!);
        Assert.Equal(["memory-vault", "voice"], view["entitlements"]!.AsArray().Select(e => (string)e!));
        Assert.Equal(1, await OutboxCountAsync("subscription.activated"));
    }

    [Fact]
    public async Task Failed_payment_keeps_access_for_the_grace_period_recovery_publishes_and_exhausted_retries_end_access()
    {
        var client = App.ClientFor("user-dun");
        await ActiveSubscriptionAsync("user-dun", "cus_dun", "sub_dun");
        Stripe.Put(StripeObjects.Invoice("in_dun", "cus_dun", "sub_dun", "open", 0, 0, "usd", "pi_dun", 0, attemptCount: 1));
        var failed = StripeObjects.Event(NewEventId(), "invoice.payment_failed", Stripe.Get("in_dun"), Now);
        (await App.DeliverAsync(failed)).EnsureSuccessStatusCode();
        await App.WaitProcessedAsync((string)failed["id"]!);

        var view = await client.GetFromJsonAsync<JsonObject>("/billing/subscription");
        Assert.Equal("past_due", (string?)view!["status"]);
        Assert.True((bool)view["hasAccess"]!);
        Assert.Equal(Time.GetUtcNow().AddDays(7).UtcDateTime, ((DateTime)view["graceUntil"]!).ToUniversalTime(), TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, await OutboxCountAsync("payment.failed"));

        // Smart Retries succeed: invoice.paid ends the episode.
        Stripe.Put(StripeObjects.Invoice("in_dun", "cus_dun", "sub_dun", "paid", 999, 0, "usd", "pi_dun", Now, attemptCount: 2));
        var (intent, _) = StripeObjects.PaymentIntent("pi_dun", "ch_dun", "cus_dun", 999, "usd", 999);
        Stripe.Put(intent);
        var paid = StripeObjects.Event(NewEventId(), "invoice.paid", Stripe.Get("in_dun"), Now + 1);
        (await App.DeliverAsync(paid)).EnsureSuccessStatusCode();
        await App.WaitProcessedAsync((string)paid["id"]!);
        Assert.Equal(1, await OutboxCountAsync("payment.recovered"));
        view = await client.GetFromJsonAsync<JsonObject>("/billing/subscription");
        Assert.Equal("active", (string?)view!["status"]);

        // Next cycle fails and Stripe's retries are exhausted: Stripe cancels the subscription and access goes.
        Stripe.Put(StripeObjects.Subscription("sub_dun", "cus_dun", "canceled", "user-dun"));
        var deleted = StripeObjects.Event(NewEventId(), "customer.subscription.deleted", Stripe.Get("sub_dun"), Now + 2);
        (await App.DeliverAsync(deleted)).EnsureSuccessStatusCode();
        await App.WaitProcessedAsync((string)deleted["id"]!);
        view = await client.GetFromJsonAsync<JsonObject>("/billing/subscription");
        Assert.False((bool)view!["hasAccess"]!);
        Assert.Empty(view["entitlements"]!.AsArray());
        Assert.Equal(1, await OutboxCountAsync("subscription.canceled"));
    }
}

[Collection(ServersCollection.Name)]
public sealed class UnconfiguredBillingTests(LocalServers servers) : IAsyncLifetime
{
    private BillingApp _app = null!;

    public async Task InitializeAsync()
    {
        var database = LocalServers.NewDatabaseName("billing");
        await BillingApp.MigrateAsync(servers, database);
        _app = new BillingApp(servers, null, database, new FakeTimeProvider(DateTimeOffset.UtcNow));
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Without_a_stripe_key_billing_answers_503_problem_and_the_rest_keeps_running()
    {
        var client = _app.ClientFor("user-1");
        foreach (var response in new[]
        {
            await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" }),
            await client.PostAsync("/billing/portal", null),
            await client.GetAsync("/billing/subscription"),
            await _app.DeliverAsync(new JsonObject { ["id"] = "evt_1" }),
        })
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("billing is not configured", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await _app.ExecuteAsync("INSERT INTO influencers (id, user_id, referral_code, country, created_at, updated_at) VALUES ('inf_a', 'owner-a', 'ALICE', 'US', now(), now())");
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/billing/referral", new { referralCode = "ALICE" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/")).StatusCode);
    }
}

[Collection(ServersCollection.Name)]
public sealed class ReferralMetadataTests(LocalServers servers) : BillingTestBase(servers)
{
    [Fact]
    public async Task Referral_given_after_the_customer_exists_is_copied_to_its_metadata_and_stays_fixed()
    {
        await OwnedCodesAsync("carol", "dave", "erin");
        var client = App.ClientFor("user-late-ref");
        (await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" })).EnsureSuccessStatusCode();
        var customerId = Stripe.RequestsTo("POST", "/v1/checkout/sessions").Single().Form["customer"];

        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/billing/referral", new { referralCode = "carol" })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("/billing/referral", new { referralCode = "dave" })).StatusCode);
        (await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US", referralCode = "erin" })).EnsureSuccessStatusCode();

        Assert.Equal("CAROL", (string?)Stripe.Get(customerId)["metadata"]!["referral_code"]);
        Assert.Single(Stripe.RequestsTo("POST", "/v1/customers/" + customerId));
        Assert.Equal("CAROL", Stripe.RequestsTo("POST", "/v1/checkout/sessions")[^1].Form["metadata[referral_code]"]);
    }
}
