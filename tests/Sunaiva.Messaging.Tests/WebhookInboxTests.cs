using System.Diagnostics;
using StackExchange.Redis;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.Testing;

namespace Sunaiva.Messaging.Tests;

/// <summary>The webhook inbox of any provider against real Postgres: stored once, queued once, conflicts seen.</summary>
[Collection(ServersCollection.Name)]
public sealed class WebhookInboxTests(LocalServers servers) : IAsyncLifetime
{
    private ConnectionMultiplexer _redis = null!;
    private MessagingHarness _h = null!;
    private WebhookInbox _inbox = null!;

    public async Task InitializeAsync()
    {
        _redis = await ConnectionMultiplexer.ConnectAsync(servers.RedisConnectionString);
        _h = await MessagingHarness.CreateAsync(servers, _redis);
        _inbox = _h.Inbox();
        await _inbox.StartAsync(default);
    }

    public async Task DisposeAsync()
    {
        await _inbox.StopAsync(default);
        _inbox.Dispose();
        await _h.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task Concurrent_duplicate_deliveries_are_stored_and_queued_once_each()
    {
        var deliveries = Enumerable.Range(0, 300).Select(i => Delivery($"evt_{i % 100}", "{\"n\":" + (i % 100) + "}")).ToList();
        var results = await Task.WhenAll(deliveries.Select(d => _inbox.StoreAsync("heygen", d, "webhook", default)));

        Assert.Equal(100, results.Count(r => r.Stored));
        Assert.Equal(200, results.Count(r => !r.Stored && !r.Conflict));
        Assert.Equal(100L, await _h.ScalarAsync<long>("SELECT count(*) FROM webhook_inbox WHERE provider = 'heygen'"));
        Assert.Equal(100L, await _h.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'webhook:heygen'"));
    }

    [Fact]
    public async Task Event_id_reused_with_another_payload_keeps_the_first_and_is_flagged()
    {
        Assert.True((await _inbox.StoreAsync("stripe", Delivery("evt_same", "{\"a\":1}"), "webhook", default)).Stored);
        var again = await _inbox.StoreAsync("stripe", Delivery("evt_same", "{\"a\":2}"), "webhook", default);

        Assert.Equal(new InboxResult(false, true), again);
        Assert.Equal("{\"a\":1}", (await _inbox.ReadAsync("stripe", "evt_same", default))!.Payload);
        Assert.Equal(1, await _h.ScalarAsync<int>("SELECT conflicts FROM webhook_inbox WHERE id = 'evt_same'"));
    }

    [Fact]
    public async Task Deliveries_of_one_partition_share_a_partition_key_per_provider()
    {
        await _inbox.StoreAsync("stripe", Delivery("evt_p1", "{}", "cus_1"), "webhook", default);
        await _inbox.StoreAsync("stripe", Delivery("evt_p2", "{}", "cus_1"), "webhook", default);

        Assert.Equal(1L, await _h.ScalarAsync<long>("SELECT count(DISTINCT partition_key) FROM work_items WHERE key IN ('webhook:stripe:evt_p1', 'webhook:stripe:evt_p2')"));
        Assert.Equal("stripe:cus_1", await _h.ScalarAsync<string>("SELECT partition_key FROM work_items WHERE key = 'webhook:stripe:evt_p1'"));
    }

    [Fact]
    public async Task Work_of_a_delivery_continues_the_trace_of_the_request_that_brought_it()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "test.webhooks",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var source = new ActivitySource("test.webhooks");

        string requestTraceId;
        using (var request = source.StartActivity("POST /webhooks/heygen", ActivityKind.Server))
        {
            requestTraceId = request!.TraceId.ToHexString();
            await _inbox.StoreAsync("heygen", Delivery("evt_traced", "{}"), "webhook", default);
        }

        var stored = await _h.ScalarAsync<string>("SELECT traceparent FROM work_items WHERE key = 'webhook:heygen:evt_traced'");
        Assert.Equal(requestTraceId, ActivityContext.Parse(stored, null).TraceId.ToHexString());
    }

    [Fact]
    public async Task A_type_no_handler_takes_is_stored_once_without_work()
    {
        var inbox = _h.Inbox(new OnlyProcessor("acme", "video.ready"));
        await inbox.StartAsync(default);
        try
        {
            var handled = await inbox.StoreAsync("acme", Delivery("evt_handled", "{}") with { Type = "video.ready" }, "webhook", default);
            var unhandled = await inbox.StoreAsync("acme", Delivery("evt_unhandled", "{}") with { Type = "account.updated" }, "webhook", default);
            var again = await inbox.StoreAsync("acme", Delivery("evt_unhandled", "{}") with { Type = "account.updated" }, "webhook", default);

            Assert.Equal(new InboxResult(true, false), handled);
            Assert.Equal(new InboxResult(true, false), unhandled);
            Assert.Equal(new InboxResult(false, false), again);
            Assert.Equal(2L, await _h.ScalarAsync<long>("SELECT count(*) FROM webhook_inbox WHERE provider = 'acme'"));
            Assert.Equal(1L, await _h.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'webhook:acme'"));
            Assert.Equal(1L, await _h.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE key = 'webhook:acme:evt_handled'"));
        }
        finally
        {
            await inbox.StopAsync(default);
            inbox.Dispose();
        }
    }

    [Fact]
    public async Task A_delivery_the_size_providers_send_is_kept_in_its_row_compressed_with_lz4_and_read_back_whole()
    {
        // About 7 KB of indented JSON, as Stripe delivers a subscription event: over the 2 KB at which Postgres compresses.
        var items = string.Join(",\n", Enumerable.Range(0, 110).Select(i => $"      {{ \"id\": \"si_{i:D4}\", \"price\": \"price_{i * 7919 % 1000:D3}\", \"quantity\": {i % 5} }}"));
        var payload = "{\n  \"id\": \"evt_large\",\n  \"data\": {\n    \"items\": [\n" + items + "\n    ]\n  }\n}";
        Assert.InRange(payload.Length, 6_000, 9_000);

        Assert.True((await _inbox.StoreAsync("stripe", Delivery("evt_large", payload), "webhook", default)).Stored);

        Assert.Equal(payload, (await _inbox.ReadAsync("stripe", "evt_large", default))!.Payload);
        Assert.Equal("lz4", await _h.ScalarAsync<string>("SELECT pg_column_compression(payload) FROM webhook_inbox WHERE provider = 'stripe' AND id = 'evt_large'"));
        Assert.Equal('m', await _h.ScalarAsync<char>("SELECT attstorage FROM pg_attribute WHERE attrelid = 'webhook_inbox'::regclass AND attname = 'payload'"));
        // In its row, and so are the row's other values: the table's TOAST relation (this test's own database) holds nothing.
        // With the payload alone kept in the row, Postgres moved the 64 characters of its SHA-256 there instead.
        var toast = await _h.ScalarAsync<string>("SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'webhook_inbox'::regclass");
        Assert.Equal(0L, await _h.ScalarAsync<long>($"SELECT count(*) FROM {toast}"));
    }

    private static WebhookDelivery Delivery(string id, string payload, string? partition = null) =>
        new(id, "video.ready", "obj_1", null, null, DateTimeOffset.UnixEpoch, partition, payload);

    private sealed class OnlyProcessor(string provider, string type) : IWebhookProcessor
    {
        public string Provider => provider;

        public bool Handles(string eventType) => eventType == type;

        public Task ProcessAsync(WebhookEnvelope envelope, Work.WorkContext work, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
