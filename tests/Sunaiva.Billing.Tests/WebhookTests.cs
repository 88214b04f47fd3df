using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Sunaiva.Testing;

namespace Sunaiva.Billing.Tests;

[Collection(ServersCollection.Name)]
public sealed class WebhookTests(LocalServers servers) : BillingTestBase(servers)
{
    private async Task<long> StoredAsync() => await App.QueryOneAsync<long>("SELECT COUNT(*) FROM stripe_events");

    private JsonObject SubscriptionEvent(string type = "customer.subscription.updated")
    {
        var subscription = Stripe.Put(StripeObjects.Subscription(Stripe.NewId("sub"), Stripe.NewId("cus"), "active", "user-a"));
        return StripeObjects.Event(NewEventId(), type, subscription, Now);
    }

    private static async Task AssertRejectedAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.Equal("Webhook rejected", (string?)problem!["title"]);
    }

    [Fact]
    public async Task Forged_signature_is_rejected_with_problem_and_nothing_stored()
    {
        var stripeEvent = SubscriptionEvent();
        var payload = stripeEvent.ToJsonString();
        var forged = StripeObjects.Sign(payload, "whsec_not_the_secret", Now);

        await AssertRejectedAsync(await App.DeliverAsync(stripeEvent, forged));
        Assert.Equal(0, await StoredAsync());
    }

    [Fact]
    public async Task Stale_timestamp_is_rejected_with_problem_and_nothing_stored()
    {
        var stripeEvent = SubscriptionEvent();
        var payload = stripeEvent.ToJsonString();
        var stale = StripeObjects.Sign(payload, BillingApp.WebhookSecret, Now - 301);

        await AssertRejectedAsync(await App.DeliverAsync(stripeEvent, stale));
        Assert.Equal(0, await StoredAsync());
    }

    [Fact]
    public async Task Future_timestamp_beyond_the_tolerance_is_rejected_with_problem_and_nothing_stored()
    {
        var stripeEvent = SubscriptionEvent();
        var future = StripeObjects.Sign(stripeEvent.ToJsonString(), BillingApp.WebhookSecret, Now + 301);

        await AssertRejectedAsync(await App.DeliverAsync(stripeEvent, future));
        Assert.Equal(0, await StoredAsync());
    }

    [Fact]
    public async Task Malformed_signature_headers_are_rejected_with_problem_and_nothing_stored()
    {
        var stripeEvent = SubscriptionEvent();
        var payload = stripeEvent.ToJsonString();
        var valid = StripeObjects.Sign(payload, BillingApp.WebhookSecret, Now);
        var v1 = valid[(valid.IndexOf("v1=", StringComparison.Ordinal) + 3)..];
        foreach (var header in new[]
        {
            $"t={Now}",                                       // no signature
            $"v1={v1}",                                       // no timestamp
            $"{valid},junk",                                  // an item without '='
            $"t={Now},v1={v1.ToUpperInvariant()}",            // Stripe signs in lowercase hex
            $"t={Now},v1={v1[..^2]}",                         // truncated
            $"t=x{Now},v1={v1}",                              // timestamp not a number
            $"t={Now - 1},v1={v1}",                           // signed at another time
        })
        {
            await AssertRejectedAsync(await App.DeliverAsync(stripeEvent, header, payload));
        }

        Assert.Equal(0, await StoredAsync());
    }

    [Fact]
    public async Task Any_of_several_v1_signatures_is_accepted_as_while_a_secret_is_rolled()
    {
        var stripeEvent = SubscriptionEvent();
        var payload = stripeEvent.ToJsonString();
        var old = StripeObjects.Sign(payload, "whsec_the_old_secret", Now);
        var current = StripeObjects.Sign(payload, BillingApp.WebhookSecret, Now);
        var header = $"{old}, v1={current[(current.IndexOf("v1=", StringComparison.Ordinal) + 3)..]}";

        var response = await App.DeliverAsync(stripeEvent, header, payload);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, await StoredAsync());
    }

    [Fact]
    public async Task Unsigned_delivery_is_rejected_with_problem_and_nothing_stored()
    {
        await AssertRejectedAsync(await App.DeliverAsync(SubscriptionEvent(), signature: string.Empty));
        Assert.Equal(0, await StoredAsync());
    }

    [Fact]
    public async Task Malformed_bodies_are_rejected_with_problem_and_nothing_stored()
    {
        foreach (var payload in new[] { "{\"id\": \"evt_1\", \"type\": ", "{}", "[1,2,3]", "{\"id\":\"evt_x\",\"type\":\"invoice.paid\",\"created\":1}",
            "{\"id\":\"evt_x\",\"type\":\"invoice.paid\",\"created\":\"1\",\"data\":{\"object\":{}}}",
            "{\"id\":\"evt_x\",\"type\":\"invoice.paid\",\"created\":1,\"data\":{\"object\":[]}}",
            "{\"id\":\"evt_x\",\"type\":\"invoice.paid\",\"created\":1,\"data\":{\"object\":{}}} {}" })
        {
            var signature = StripeObjects.Sign(payload, BillingApp.WebhookSecret, Now);
            await AssertRejectedAsync(await App.DeliverAsync(new JsonObject(), signature, payload));
        }

        Assert.Equal(0, await StoredAsync());
    }

    [Fact]
    public async Task Body_over_the_limit_is_refused_413_and_nothing_stored()
    {
        // With a Content-Length. A chunked body is bounded by Kestrel's max-request-body feature (413 as well, checked
        // against the service on Kestrel with curl); the in-memory test server has no such feature.
        var payload = "{\"id\":\"evt_big\",\"pad\":\"" + new string('x', 2 * 1024 * 1024) + "\"}";
        var response = await App.DeliverAsync(new JsonObject(), StripeObjects.Sign(payload, BillingApp.WebhookSecret, Now), payload);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(0, await StoredAsync());
    }

    [Fact]
    public async Task Same_event_delivered_three_times_is_stored_and_applied_once()
    {
        await ActiveSubscriptionAsync("user-a", "cus_a", "sub_a");
        Stripe.Put(StripeObjects.Invoice("in_a", "cus_a", "sub_a", "open", 0, 0, "usd", "pi_a", 0, attemptCount: 1));
        var failed = StripeObjects.Event(NewEventId(), "invoice.payment_failed", Stripe.Get("in_a"), Now);

        var acks = new List<JsonObject>();
        for (var i = 0; i < 3; i++)
        {
            var response = await App.DeliverAsync(failed);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            acks.Add(await JsonAsync(response));
        }

        await App.WaitProcessedAsync((string)failed["id"]!);
        Assert.Equal([false, true, true], acks.Select(a => (bool)a["duplicate"]!));
        Assert.Equal(1, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM stripe_events WHERE id = @id", new { id = (string)failed["id"]! }));
        Assert.Equal(1, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM billing_payment_failures"));
        Assert.Equal(1, await OutboxCountAsync("payment.failed"));
    }

    [Fact]
    public async Task Payment_failure_delivered_before_its_subscription_still_reaches_the_user()
    {
        Stripe.Put(StripeObjects.Subscription("sub_early", "cus_early", "active", "user-early"));
        Stripe.Put(StripeObjects.Invoice("in_early", "cus_early", "sub_early", "open", 0, 0, "usd", "pi_early", 0, attemptCount: 1));
        var failed = StripeObjects.Event(NewEventId(), "invoice.payment_failed", Stripe.Get("in_early"), Now);

        (await App.DeliverAsync(failed)).EnsureSuccessStatusCode();
        await App.WaitProcessedAsync((string)failed["id"]!);

        Assert.Equal(1, await OutboxCountAsync("payment.failed"));
        Assert.Equal("user-early", await App.QueryOneAsync<string>("SELECT payload->>'userId' FROM outbox WHERE type = 'payment.failed'"));
        Assert.Equal("past_due", await App.QueryOneAsync<string>("SELECT status FROM billing_subscriptions WHERE stripe_subscription_id = 'sub_early'"));
    }

    [Theory]
    [InlineData("canceled", 1, 2)]
    [InlineData("active", 2, 3)]
    [InlineData("past_due", 3, 4)]
    public async Task Shuffled_subscription_events_end_in_the_final_state(string finalStatus, int seed, int extraUpdates)
    {
        // Stripe's sequence: created (incomplete) -> active -> past_due -> active ... -> final. Deliveries arrive shuffled.
        const string subscriptionId = "sub_shuffled";
        var statuses = new List<string> { "incomplete", "active" };
        for (var i = 0; i < extraUpdates; i++)
        {
            statuses.Add(i % 2 == 0 ? "past_due" : "active");
        }

        statuses.Add(finalStatus);
        var events = statuses.Select((status, i) => StripeObjects.Event(
            NewEventId(),
            i == 0 ? "customer.subscription.created" : status == "canceled" ? "customer.subscription.deleted" : "customer.subscription.updated",
            StripeObjects.Subscription(subscriptionId, "cus_shuffled", status, "user-s"),
            Now - 100 + i)).ToList();
        Stripe.Put(StripeObjects.Subscription(subscriptionId, "cus_shuffled", finalStatus, "user-s"));

        var shuffled = events.ToList();
        new Random(seed).Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(shuffled));
        foreach (var stripeEvent in shuffled)
        {
            (await App.DeliverAsync(stripeEvent)).EnsureSuccessStatusCode();
        }

        await App.WaitProcessedAsync([.. events.Select(e => (string)e["id"]!)]);
        Assert.Equal(finalStatus, await App.QueryOneAsync<string>("SELECT status FROM billing_subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId }));
        Assert.True(await OutboxCountAsync("subscription.activated") <= 1);
        Assert.Equal(finalStatus == "canceled" ? 1 : 0, await OutboxCountAsync("subscription.canceled"));
    }

    [Fact]
    public async Task Event_of_another_api_version_is_stored_and_handled_by_rereading_the_object()
    {
        Stripe.Put(StripeObjects.Subscription("sub_old", "cus_old", "active", "user-old"));
        // An older API version: the object in the payload has another shape (no items list, plan at the top).
        var oldShape = new JsonObject { ["id"] = "sub_old", ["object"] = "subscription", ["status"] = "incomplete", ["plan"] = new JsonObject { ["id"] = "plan_legacy" } };
        var stripeEvent = StripeObjects.Event(NewEventId(), "customer.subscription.updated", oldShape, Now, apiVersion: "2020-08-27");

        Assert.Equal(HttpStatusCode.OK, (await App.DeliverAsync(stripeEvent)).StatusCode);
        await App.WaitProcessedAsync((string)stripeEvent["id"]!);

        Assert.Equal("2020-08-27", await App.QueryOneAsync<string>("SELECT api_version FROM stripe_events"));
        Assert.Equal("done", await App.QueryOneAsync<string>("SELECT status FROM stripe_events"));
        var mirrored = await App.QueryOneAsync<(string, string)>("SELECT status, plan FROM billing_subscriptions WHERE stripe_subscription_id = 'sub_old'");
        Assert.Equal(("active", "plus-monthly"), mirrored);
    }

    [Fact]
    public async Task Unknown_event_type_is_stored_and_marked_ignored()
    {
        var stripeEvent = StripeObjects.Event(NewEventId(), "price.created", FakeStripe.Fixture("price"), Now);
        Assert.Equal(HttpStatusCode.OK, (await App.DeliverAsync(stripeEvent)).StatusCode);
        await App.WaitProcessedAsync((string)stripeEvent["id"]!);
        Assert.Equal("ignored", await App.QueryOneAsync<string>("SELECT status FROM stripe_events"));
    }

    [Fact]
    public async Task Processor_killed_mid_handler_leaves_the_event_to_be_retried()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        App.Processor.BeforeHandle = async (_, ct) =>
        {
            entered.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        };
        var stripeEvent = SubscriptionEvent();
        var subscriptionId = (string)stripeEvent["data"]!["object"]!["id"]!;
        (await App.DeliverAsync(stripeEvent)).EnsureSuccessStatusCode();
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(60));

        // The process dies with the handler half way: its transaction never commits.
        await App.DisposeAsync();
        await using (var connection = new NpgsqlConnection(Servers.PostgresConnectionString(DatabaseName)))
        {
            var row = await connection.QuerySingleAsync<(string Status, int Attempts)>("SELECT status, attempts FROM stripe_events");
            Assert.Equal(("pending", 0), row);
            Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM billing_subscriptions"));
        }

        await using var restarted = new BillingApp(Servers, Stripe, DatabaseName, Time);
        _ = restarted.Server;
        await restarted.WaitProcessedAsync((string)stripeEvent["id"]!);
        Assert.Equal("done", await restarted.QueryOneAsync<string>("SELECT status FROM stripe_events"));
        Assert.Equal("active", await restarted.QueryOneAsync<string>("SELECT status FROM billing_subscriptions WHERE stripe_subscription_id = @subscriptionId", new { subscriptionId }));
    }

    [Fact]
    public async Task Failing_handler_backs_off_then_dead_letters_and_ops_replay_applies_it()
    {
        // The subscription is unknown to Stripe (404) until later: every try fails.
        var subscription = StripeObjects.Subscription("sub_late", "cus_late", "active", "user-late");
        var stripeEvent = StripeObjects.Event(NewEventId(), "customer.subscription.updated", subscription, Now);
        var id = (string)stripeEvent["id"]!;
        var start = Time.GetUtcNow();
        (await App.DeliverAsync(stripeEvent)).EnsureSuccessStatusCode();

        await App.WaitAttemptsAsync(id, 1);
        var first = await App.QueryOneAsync<(string, DateTime)>("SELECT status, next_attempt_at FROM stripe_events WHERE id = @id", new { id });
        Assert.Equal(("pending", Micro(start + TimeSpan.FromSeconds(10))), first);

        Time.Advance(TimeSpan.FromSeconds(10));
        await App.WaitAttemptsAsync(id, 2);
        var second = await App.QueryOneAsync<DateTime>("SELECT next_attempt_at FROM stripe_events WHERE id = @id", new { id });
        Assert.Equal(Micro(start + TimeSpan.FromSeconds(30)), second);

        Time.Advance(TimeSpan.FromSeconds(20));
        await App.WaitAttemptsAsync(id, 3);
        Assert.Equal("dead", await App.QueryOneAsync<string>("SELECT status FROM stripe_events WHERE id = @id", new { id }));

        var ops = App.ClientFor("ops-1", ops: true);
        var dead = await ops.GetFromJsonAsync<JsonArray>("/ops/billing/webhooks/dead");
        Assert.Equal(id, (string?)dead![0]!["id"]);

        Stripe.Put(subscription);
        var replay = await ops.PostAsJsonAsync("/ops/billing/webhooks/replay", new { eventIds = new[] { id } });
        Assert.Equal(1, (int)(await JsonAsync(replay))["replayed"]!);
        await App.WaitProcessedAsync(id);
        Assert.Equal("done", await App.QueryOneAsync<string>("SELECT status FROM stripe_events WHERE id = @id", new { id }));
        Assert.Equal(1, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM billing_subscriptions WHERE stripe_subscription_id = 'sub_late'"));
    }

    [Fact]
    public async Task Two_replicas_share_the_inbox_and_handle_each_event_once()
    {
        await using var replica = new BillingApp(Servers, Stripe, DatabaseName, Time);
        _ = replica.Server;
        var ids = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            await ActiveSubscriptionSeedAsync(i);
            var stripeEvent = StripeObjects.Event(NewEventId(), "invoice.payment_failed", Stripe.Get($"in_rep{i}"), Now);
            ids.Add((string)stripeEvent["id"]!);
            (await (i % 2 == 0 ? App : replica).DeliverAsync(stripeEvent)).EnsureSuccessStatusCode();
        }

        await App.WaitProcessedAsync([.. ids]);
        Assert.Equal(40, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM stripe_events WHERE id = ANY(@ids) AND status = 'done' AND attempts = 1", new { ids }));
        Assert.Equal(40, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM billing_payment_failures"));
        Assert.Equal(40, await OutboxCountAsync("payment.failed"));
    }

    private async Task ActiveSubscriptionSeedAsync(int i)
    {
        var subscription = Stripe.Put(StripeObjects.Subscription($"sub_rep{i}", $"cus_rep{i}", "active", $"user-rep{i}"));
        await App.ExecuteAsync(
            """
            INSERT INTO billing_subscriptions (stripe_subscription_id, stripe_customer_id, user_id, status, created_at, updated_at)
            VALUES (@id, @customer, @user, 'active', now(), now())
            """,
            new { id = (string)subscription["id"]!, customer = $"cus_rep{i}", user = $"user-rep{i}" });
        Stripe.Put(StripeObjects.Invoice($"in_rep{i}", $"cus_rep{i}", $"sub_rep{i}", "open", 0, 0, "usd", $"pi_rep{i}", 0));
    }

    [Fact]
    public async Task Missed_events_are_recovered_from_the_events_api_without_duplicates()
    {
        var events = Enumerable.Range(0, 3).Select(i =>
        {
            var subscription = Stripe.Put(StripeObjects.Subscription($"sub_missed{i}", $"cus_missed{i}", "active", $"user-missed{i}"));
            var stripeEvent = StripeObjects.Event(NewEventId(), "customer.subscription.created", subscription, Now - 3600 + i);
            Stripe.Publish(stripeEvent);
            return stripeEvent;
        }).ToList();
        Stripe.Publish(StripeObjects.Event(NewEventId(), "customer.subscription.created", Stripe.Get("sub_missed0"), Now - (5 * 86_400)));
        (await App.DeliverAsync(events[0])).EnsureSuccessStatusCode();

        var ops = App.ClientFor("ops-1", ops: true);
        var response = await ops.PostAsJsonAsync("/ops/billing/webhooks/recover", new { from = Time.GetUtcNow().AddHours(-2), to = Time.GetUtcNow() });
        var result = await JsonAsync(response);

        Assert.Equal(3, (int)result["seen"]!);
        Assert.Equal(2, (int)result["stored"]!);
        await App.WaitProcessedAsync([.. events.Select(e => (string)e["id"]!)]);
        Assert.Equal(3, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM billing_subscriptions"));
        var list = Stripe.RequestsTo("GET", "/v1/events").Single();
        Assert.Equal(Time.GetUtcNow().AddHours(-2).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), list.Form["created[gte]"]);
    }

    [Fact]
    public async Task Missed_events_of_a_connected_account_are_recovered_with_its_account_and_applied()
    {
        var influencer = App.ClientFor("influencer-rec");
        var onboarding = await JsonAsync(await influencer.PostAsJsonAsync("/influencers", new { referralCode = "recov", country = "US", email = "r@example.com" }));
        var accountId = (string)onboarding["accountId"]!;
        var account = Stripe.Get(accountId);
        account["payouts_enabled"] = true;
        account["details_submitted"] = true;
        account["requirements"]!["disabled_reason"] = null;
        // Happened on the connected account, and its delivery never reached us.
        var missed = StripeObjects.Event(NewEventId(), "account.updated", account, Now - 600, account: accountId);
        Stripe.Publish(missed);

        var ops = App.ClientFor("ops-1", ops: true);
        var result = await JsonAsync(await ops.PostAsJsonAsync("/ops/billing/webhooks/recover", new { from = Time.GetUtcNow().AddHours(-1), to = Time.GetUtcNow() }));

        Assert.Equal(1, (int)result["stored"]!);
        Assert.Equal(1, (int)result["connectedAccounts"]!);
        Assert.Contains(Stripe.RequestsTo("GET", "/v1/events"), r => r.StripeAccount == accountId);
        await App.WaitProcessedAsync((string)missed["id"]!);
        Assert.Equal(accountId, await App.QueryOneAsync<string>("SELECT account FROM stripe_events WHERE id = @id", new { id = (string)missed["id"]! }));
        var earnings = await influencer.GetFromJsonAsync<JsonObject>($"/influencers/{(string)onboarding["id"]!}/earnings");
        Assert.True((bool)earnings!["payoutsEnabled"]!);
    }

    // Postgres keeps microseconds.
    private static DateTime Micro(DateTimeOffset value) => new(value.UtcTicks - (value.UtcTicks % 10), DateTimeKind.Utc);
}
