using System.Net;
using System.Net.Http.Json;
using Sunaiva.Testing;

namespace Sunaiva.Billing.Tests;

/// <summary>Checkout refuses locally what Stripe would refuse, before any customer exists, and says why Stripe refused the rest.</summary>
[Collection(ServersCollection.Name)]
public sealed class CheckoutValidationTests(LocalServers servers) : BillingTestBase(servers)
{
    [Theory]
    [InlineData("en-gb", "en-GB")]
    [InlineData("PT-BR", "pt-BR")]
    [InlineData("zh-tw", "zh-TW")]
    [InlineData("FR", "fr")]
    public async Task Locale_in_another_letter_case_is_sent_in_stripes_casing(string asked, string sent)
    {
        var response = await App.ClientFor("user-locale").PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US", locale = asked });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(sent, Stripe.RequestsTo("POST", "/v1/checkout/sessions").Single().Form["locale"]);
        Assert.Equal(sent, (string?)(await JsonAsync(response))["locale"]);
    }

    [Fact]
    public async Task Unknown_locale_is_422_naming_the_valid_ones_and_nothing_is_created()
    {
        var response = await App.ClientFor("user-bad-locale").PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US", locale = "tlh" });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await JsonAsync(response);
        Assert.Contains("en-GB", (string?)problem["detail"], StringComparison.Ordinal);
        Assert.Contains("pt-BR", (string?)problem["detail"], StringComparison.Ordinal);
        Assert.Empty(Stripe.Requests);
        Assert.Equal(0, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM billing_customers"));
    }

    [Fact]
    public async Task Stripe_refusal_is_returned_and_logged_with_its_type_code_and_param()
    {
        Stripe.Refusals["/v1/checkout/sessions"] = (400, "invalid_request_error", "resource_missing", "line_items[0][price]", "No such price: 'price_plus_monthly'");

        var response = await App.ClientFor("user-refused").PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await JsonAsync(response);
        Assert.Equal(("invalid_request_error", "resource_missing", "line_items[0][price]"),
            ((string?)problem["stripeErrorType"], (string?)problem["stripeErrorCode"], (string?)problem["stripeErrorParam"]));
        Assert.Contains("resource_missing", (string?)problem["detail"], StringComparison.Ordinal);
        var logged = Assert.Single(App.Logs.Lines, l => l.StartsWith("Stripe refused checkout", StringComparison.Ordinal));
        Assert.Contains("type invalid_request_error, code resource_missing, param line_items[0][price]", logged, StringComparison.Ordinal);
        Assert.DoesNotContain("sk_test", logged, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Referral_code_no_influencer_owns_is_refused_before_anything_is_created()
    {
        var client = App.ClientFor("user-nobody");

        var checkout = await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US", referralCode = "nobody" });
        var direct = await client.PostAsJsonAsync("/billing/referral", new { referralCode = "nobody" });

        Assert.Equal((HttpStatusCode.UnprocessableEntity, HttpStatusCode.UnprocessableEntity), (checkout.StatusCode, direct.StatusCode));
        Assert.Equal("Unknown referral code", (string?)(await JsonAsync(checkout))["title"]);
        Assert.Empty(Stripe.Requests);
        Assert.Equal(0, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM referral_attributions"));

        // Once an influencer owns it, the same code is attributed.
        await OwnedCodesAsync("nobody");
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/billing/referral", new { referralCode = "nobody" })).StatusCode);
    }

    [Fact]
    public async Task Returning_customer_checks_out_in_the_currency_stripe_fixed_for_it()
    {
        var client = App.ClientFor("user-usd");
        (await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" })).EnsureSuccessStatusCode();
        var customerId = Stripe.RequestsTo("POST", "/v1/checkout/sessions").Single().Form["customer"];
        Stripe.Get(customerId)["currency"] = "usd"; // an earlier (since canceled) subscription was paid in USD

        var response = await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "DE" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("usd", (string?)(await JsonAsync(response))["currency"]);
        Assert.Equal("usd", Stripe.RequestsTo("POST", "/v1/checkout/sessions")[^1].Form["currency"]);
        Assert.Single(Stripe.RequestsTo("POST", "/v1/customers"));
    }

    [Fact]
    public async Task Customer_fixed_to_a_currency_the_plan_is_not_priced_in_gets_a_409_problem()
    {
        var client = App.ClientFor("user-jpy");
        (await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" })).EnsureSuccessStatusCode();
        Stripe.Get(Stripe.RequestsTo("POST", "/v1/checkout/sessions").Single().Form["customer"])["currency"] = "jpy";

        var response = await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" });

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var problem = await JsonAsync(response);
        Assert.Equal("jpy", (string?)problem["customerCurrency"]);
        Assert.Contains("JPY", (string?)problem["detail"], StringComparison.Ordinal);
        Assert.Single(Stripe.RequestsTo("POST", "/v1/checkout/sessions"));
    }

    [Fact]
    public async Task User_with_an_active_subscription_gets_the_portal_instead_of_a_second_subscription()
    {
        await ActiveSubscriptionAsync("user-twice", "cus_twice", "sub_twice");

        var response = await App.ClientFor("user-twice").PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" });

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var problem = await JsonAsync(response);
        Assert.StartsWith("https://billing.stripe.com/", (string?)problem["portalUrl"], StringComparison.Ordinal);
        Assert.Equal("cus_twice", Stripe.RequestsTo("POST", "/v1/billing_portal/sessions").Single().Form["customer"]);
        Assert.Empty(Stripe.RequestsTo("POST", "/v1/checkout/sessions"));
        Assert.Empty(Stripe.RequestsTo("POST", "/v1/customers"));
    }

    [Fact]
    public async Task Subscription_stripe_has_but_the_mirror_does_not_yet_also_sends_the_user_to_the_portal()
    {
        var client = App.ClientFor("user-fresh");
        (await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" })).EnsureSuccessStatusCode();
        var customerId = Stripe.RequestsTo("POST", "/v1/checkout/sessions").Single().Form["customer"];
        Stripe.Put(StripeObjects.Subscription("sub_fresh", customerId, "active", "user-fresh")); // paid, webhook not processed yet

        var response = await client.PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" });

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.NotNull((string?)(await JsonAsync(response))["portalUrl"]);
        Assert.Single(Stripe.RequestsTo("POST", "/v1/checkout/sessions"));
    }
}
