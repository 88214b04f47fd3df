using System.Net;
using System.Net.Http.Json;
using Sunaiva.Testing;

namespace Sunaiva.Billing.Tests;

/// <summary>Connect onboarding creates accounts the platform (US here) can pay, or refuses with the reason.</summary>
[Collection(ServersCollection.Name)]
public sealed class ConnectCountryTests(LocalServers servers) : BillingTestBase(servers)
{
    [Theory]
    [InlineData("GB")]
    [InlineData("DE")]
    [InlineData("CA")]
    public async Task Influencer_abroad_gets_a_recipient_account_with_the_transfers_capability_only(string country)
    {
        var response = await App.ClientFor("influencer-" + country).PostAsJsonAsync("/influencers", new { referralCode = "abroad" + country, country });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var create = Stripe.RequestsTo("POST", "/v1/accounts").Single();
        Assert.Equal(("recipient", country, "true"), (create.Form["tos_acceptance[service_agreement]"], create.Form["country"], create.Form["capabilities[transfers][requested]"]));
        Assert.DoesNotContain(create.Form.Keys, k => k.StartsWith("capabilities[card_payments]", StringComparison.Ordinal));
        Assert.Equal("recipient", (string?)Stripe.Get((string)(await JsonAsync(response))["accountId"]!)["tos_acceptance"]!["service_agreement"]);
    }

    [Fact]
    public async Task Influencer_in_the_platforms_country_gets_the_default_full_agreement()
    {
        var response = await App.ClientFor("influencer-us").PostAsJsonAsync("/influencers", new { referralCode = "homeus", country = "US" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("tos_acceptance[service_agreement]", Stripe.RequestsTo("POST", "/v1/accounts").Single().Form.Keys);
    }

    [Theory]
    [InlineData("IN")]
    [InlineData("BR")]
    [InlineData("AU")]
    public async Task Influencer_in_a_country_stripe_cannot_pay_from_the_platform_is_refused_with_the_reason_and_nothing_is_created(string country)
    {
        var response = await App.ClientFor("influencer-far").PostAsJsonAsync("/influencers", new { referralCode = "far" + country, country });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await JsonAsync(response);
        Assert.Contains($"cannot pay out to {country}", (string?)problem["detail"], StringComparison.Ordinal);
        Assert.Contains("GB", problem["payableCountries"]!.AsArray().Select(c => (string?)c));
        Assert.Empty(Stripe.Requests);
        Assert.Equal(0, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM influencers"));
    }
}
