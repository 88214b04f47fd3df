using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Sunaiva.Billing.Tests;

namespace Sunaiva.AppHost.Tests;

/// <summary>Billing inside the whole app: secrets from AppHost parameters, Stripe stood in for by the fake.</summary>
[Collection(SunaivaAppCollection.Name)]
public sealed class BillingFlowTests(SunaivaAppFixture fixture)
{
    [Fact]
    public async Task Checkout_through_the_app_opens_a_subscription_session_in_euros_without_a_card_only_list()
    {
        var user = "buyer-" + Guid.NewGuid().ToString("N")[..8];
        using var billing = fixture.Client(ResourceNames.Billing, user);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/billing/checkout") { Content = JsonContent.Create(new { plan = "plus-monthly", country = "DE" }) };
        request.Headers.Add("Idempotency-Key", "checkout-" + user);

        var response = await billing.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.Equal("eur", (string?)body!["currency"]);
        var session = fixture.Stripe.RequestsTo("POST", "/v1/checkout/sessions").Single(r => r.IdempotencyKey?.Contains(user, StringComparison.Ordinal) == true);
        Assert.Equal("subscription", session.Form["mode"]);
        Assert.Equal("price_sunaiva_plus_monthly", session.Form["line_items[0][price]"]);
        Assert.DoesNotContain(session.Form.Keys, k => k.StartsWith("payment_method_types", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Signed_subscription_webhook_through_the_app_activates_the_users_subscription_and_a_forged_one_is_refused()
    {
        var user = "subscriber-" + Guid.NewGuid().ToString("N")[..8];
        var subscription = StripeObjects.Subscription(fixture.Stripe.NewId("sub"), fixture.Stripe.NewId("cus"), "active", user, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        subscription["items"]!["data"]![0]!["price"]!["id"] = "price_sunaiva_plus_monthly";
        fixture.Stripe.Put(subscription);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var payload = StripeObjects.Event(fixture.Stripe.NewId("evt"), "customer.subscription.created", subscription, now).ToJsonString();
        using var anonymous = fixture.Client(ResourceNames.Billing);

        var forged = await PostWebhookAsync(anonymous, payload, StripeObjects.Sign(payload, "whsec_someone_else", now));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal("application/problem+json", forged.Content.Headers.ContentType?.MediaType);

        var genuine = await PostWebhookAsync(anonymous, payload, StripeObjects.Sign(payload, SunaivaAppFixture.StripeWebhookSecret, now));
        Assert.Equal(HttpStatusCode.OK, genuine.StatusCode);

        using var billing = fixture.Client(ResourceNames.Billing, user);
        var view = await Eventually.Get(
            async () => await billing.GetAsync("/billing/subscription") is { StatusCode: HttpStatusCode.OK } r ? await r.Content.ReadFromJsonAsync<JsonObject>() : null,
            v => v is not null);
        Assert.NotNull(view);
        Assert.Equal("active", (string?)view["status"]);
        Assert.True((bool)view["hasAccess"]!);
        Assert.Contains("memory-vault", view["entitlements"]!.AsArray().Select(e => (string?)e));
    }

    [Fact]
    public async Task Failed_payment_reported_by_stripe_reaches_the_user_as_one_dunning_email()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var user = "dunned-" + id;
        var email = $"dunned-{id}@example.com";
        using (var engagement = fixture.Client(ResourceNames.Engagement))
        {
            engagement.DefaultRequestHeaders.Authorization = new("Bearer", SunaivaAppFixture.InternalToken);
            var signup = await engagement.PostAsJsonAsync("/internal/events", new { id = "evt_signup_" + id, type = "user.signed_up", data = new { id = user, email, name = "Dana Dunning" } });
            Assert.Equal(HttpStatusCode.Accepted, signup.StatusCode);
        }

        var stripe = fixture.Stripe;
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var customer = stripe.NewId("cus");
        var subscription = StripeObjects.Subscription(stripe.NewId("sub"), customer, "active", user, now);
        subscription["items"]!["data"]![0]!["price"]!["id"] = "price_sunaiva_plus_monthly";
        stripe.Put(subscription);
        var invoice = stripe.Put(StripeObjects.Invoice(stripe.NewId("in"), customer, (string)subscription["id"]!, "open", 0, 0, "eur", stripe.NewId("pi"), 0, attemptCount: 1));
        using var anonymous = fixture.Client(ResourceNames.Billing);
        foreach (var stripeEvent in new[]
        {
            StripeObjects.Event(stripe.NewId("evt"), "customer.subscription.created", subscription, now),
            StripeObjects.Event(stripe.NewId("evt"), "invoice.payment_failed", invoice, now + 1),
        })
        {
            var payload = stripeEvent.ToJsonString();
            var delivered = await PostWebhookAsync(anonymous, payload, StripeObjects.Sign(payload, SunaivaAppFixture.StripeWebhookSecret, now));
            Assert.Equal(HttpStatusCode.OK, delivered.StatusCode);
        }

        var mails = await Inbox.ForAsync(fixture, email, m => m.Any(x => x.GetProperty("subject").GetString()!.Contains("payment", StringComparison.Ordinal)));
        var dunning = Assert.Single(mails, m => m.GetProperty("subject").GetString() == "Your Sunaiva payment did not go through");
        Assert.Contains("stay available until", dunning.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ops_status_reports_stripe_configured_in_test_mode_without_revealing_the_key()
    {
        using var ops = fixture.Client(ResourceNames.Billing, "ops-person", ops: true);
        var body = await ops.GetStringAsync("/ops/status");
        var status = System.Text.Json.JsonDocument.Parse(body).RootElement;
        var stripe = status.GetProperty("providers").EnumerateArray().Single(p => p.GetProperty("provider").GetString() == "stripe");
        Assert.Equal("configured", stripe.GetProperty("state").GetString());
        Assert.StartsWith("test mode", stripe.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("sk_test_apphost_fake", body, StringComparison.Ordinal);
        Assert.DoesNotContain(SunaivaAppFixture.StripeWebhookSecret, body, StringComparison.Ordinal);
    }

    private static async Task<HttpResponseMessage> PostWebhookAsync(HttpClient client, string payload, string signature)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/stripe") { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", signature);
        return await client.SendAsync(request);
    }
}
