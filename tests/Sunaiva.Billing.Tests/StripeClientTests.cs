using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Payouts;
using Sunaiva.Billing.Subscriptions;
using Sunaiva.Integration;
using Sunaiva.Testing;

namespace Sunaiva.Billing.Tests;

[Collection(ServersCollection.Name)]
public sealed class StripeClientTests(LocalServers servers) : BillingTestBase(servers)
{
    [Fact]
    public async Task Every_stripe_call_is_metered_with_the_user_it_was_made_for()
    {
        (await App.ClientFor("user-meter").PostAsJsonAsync("/billing/checkout", new { plan = "plus-monthly", country = "US" })).EnsureSuccessStatusCode();

        var calls = App.Meter.Calls;
        Assert.Equal(Stripe.Requests.Count, calls.Count);
        Assert.All(calls, c => Assert.Equal(("payments", "stripe", "user-meter", CallOutcome.Ok), (c.Capability, c.Provider, c.UserId, c.Outcome)));
        Assert.Contains(calls, c => c.Operation == "POST /v1/checkout/sessions");
    }

    [Fact]
    public async Task The_stripe_http_client_adds_no_retry_layer_of_its_own()
    {
        // Stripe.net's own retries are off in tests; a resilience handler would retry this GET three more times.
        Stripe.FailingPaths["/v1/subscriptions/sub_outage"] = true;
        var client = App.Services.GetRequiredService<StripeGateway>().Client;

        var error = await Assert.ThrowsAsync<StripeException>(() => new SubscriptionService(client).GetAsync("sub_outage"));

        Assert.Equal(HttpStatusCode.InternalServerError, error.HttpStatusCode);
        Assert.Single(Stripe.RequestsTo("GET", "/v1/subscriptions/sub_outage"));
        Assert.Equal(CallOutcome.Error, Assert.Single(App.Meter.Calls).Outcome);
    }

    [Fact]
    public async Task Invalid_stripe_options_stop_the_service_at_start()
    {
        await using var app = new BillingApp(Servers, Stripe, DatabaseName, new FakeTimeProvider(DateTimeOffset.UtcNow),
            new Dictionary<string, string?> { ["Stripe:SecretKey"] = "pk_live_publishable", ["Stripe:CommissionRate"] = "1.5" });

        var error = Assert.ThrowsAny<Exception>(() => app.Server);
        var message = error.ToString();
        Assert.Contains("Stripe:SecretKey must be a secret", message, StringComparison.Ordinal);
        Assert.DoesNotContain("pk_live_publishable", message, StringComparison.Ordinal);
    }
}

public sealed class BillingRulesTests
{
    [Theory]
    [InlineData("active", null, true)]
    [InlineData("trialing", null, true)]
    [InlineData("past_due", 1, true)]
    [InlineData("past_due", -1, false)]
    [InlineData("past_due", null, false)]
    [InlineData("canceled", 1, false)]
    [InlineData("unpaid", 1, false)]
    public void Access_follows_status_and_grace_period(string status, int? graceHoursFromNow, bool hasAccess)
    {
        var now = new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
        DateTime? grace = graceHoursFromNow is { } h ? now.AddHours(h).UtcDateTime : null;
        Assert.Equal(hasAccess, SubscriptionStore.HasAccess(status, grace, now));
    }

    [Theory]
    [InlineData("2026-11-25T12:00:00Z", 1, 0, "2026-12-01T00:00:00Z", "2026-11")]
    [InlineData("2026-12-01T00:00:00Z", 1, 0, "2027-01-01T00:00:00Z", "2026-12")]
    [InlineData("2026-11-30T23:59:59Z", 1, 6, "2026-12-01T06:00:00Z", "2026-11")]
    [InlineData("2026-11-01T05:00:00Z", 1, 6, "2026-11-01T06:00:00Z", "2026-10")]
    public void Payout_runs_on_the_configured_day_and_pays_the_previous_month(string now, int day, int hour, string next, string period)
    {
        var at = PayoutScheduler.NextRun(DateTimeOffset.Parse(now, System.Globalization.CultureInfo.InvariantCulture), day, hour);
        Assert.Equal(DateTimeOffset.Parse(next, System.Globalization.CultureInfo.InvariantCulture), at);
        Assert.Equal(period, PayoutRunner.PeriodFor(at));
    }
}
