using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Sunaiva.Testing;

namespace Sunaiva.Billing.Tests;

/// <summary>A fresh database, a fresh fake Stripe and the billing service for each test.</summary>
public abstract class BillingTestBase(LocalServers servers) : IAsyncLifetime
{
    protected LocalServers Servers { get; } = servers;

    protected FakeStripe Stripe { get; private set; } = null!;

    protected BillingApp App { get; private set; } = null!;

    protected string DatabaseName { get; } = LocalServers.NewDatabaseName("billing");

    // Starts at the real clock: bearer tokens are minted and checked against it.
    protected FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    protected virtual IDictionary<string, string?>? Settings => null;

    protected long Now => Time.GetUtcNow().ToUnixTimeSeconds();

    public virtual async Task InitializeAsync()
    {
        Stripe = await FakeStripe.StartAsync();
        Stripe.Clock = Time;
        await BillingApp.MigrateAsync(Servers, DatabaseName);
        App = new BillingApp(Servers, Stripe, DatabaseName, Time, Settings);
        _ = App.Server;
    }

    public virtual async Task DisposeAsync()
    {
        await App.DisposeAsync();
        await Stripe.DisposeAsync();
    }

    protected string NewEventId() => Stripe.NewId("evt");

    /// <summary>Puts a subscription in the fake and mirrors it through a delivered event.</summary>
    protected async Task<JsonObject> ActiveSubscriptionAsync(string userId, string customerId, string subscriptionId)
    {
        var subscription = Stripe.Put(StripeObjects.Subscription(subscriptionId, customerId, "active", userId));
        var id = NewEventId();
        (await App.DeliverAsync(StripeObjects.Event(id, "customer.subscription.created", subscription, Now))).EnsureSuccessStatusCode();
        await App.WaitProcessedAsync(id);
        return subscription;
    }

    /// <summary>Registers influencers owning these referral codes (a code is attributed only when someone owns it).</summary>
    protected async Task OwnedCodesAsync(params string[] codes)
    {
        foreach (var code in codes)
        {
            await App.ExecuteAsync(
                """
                INSERT INTO influencers (id, user_id, referral_code, country, created_at, updated_at)
                VALUES (@id, @user, @code, 'US', now(), now()) ON CONFLICT DO NOTHING
                """,
                new { id = "inf_owner_" + code.ToLowerInvariant(), user = "owner-" + code.ToLowerInvariant(), code = code.ToUpperInvariant() });
        }
    }

    protected async Task<long> OutboxCountAsync(string type) =>
        await App.QueryOneAsync<long>("SELECT COUNT(*) FROM outbox WHERE type = @type", new { type });

    protected static async Task<JsonObject> JsonAsync(HttpResponseMessage response) => (await response.Content.ReadFromJsonAsync<JsonObject>())!;
}
