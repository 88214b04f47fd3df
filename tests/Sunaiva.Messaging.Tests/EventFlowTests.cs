using System.Diagnostics;
using StackExchange.Redis;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Testing;

namespace Sunaiva.Messaging.Tests;

/// <summary>Events from one service's outbox to another service's handler, through a real Redis stream.</summary>
[Collection(ServersCollection.Name)]
public sealed class EventFlowTests(LocalServers servers)
{
    [Fact]
    public async Task Event_recorded_twice_is_relayed_once_and_handled_once_by_the_consuming_service()
    {
        await using var services = await TwoServices.StartAsync(servers);
        var (redis, connection, producer, consumer, handler) = services;
        var bridge = consumer.Bridge(handler);
        var runner = consumer.Runner(new EventHandlerWork(handler));

        await producer.PublishAsync("test.happened", "evt_a", new { value = 1 });
        await producer.PublishAsync("test.happened", "evt_a", new { value = 1 }); // a retried request records the same fact
        Assert.Equal(1, await producer.Relay().PublishBatchAsync(default));
        await PumpAsync(bridge, runner);

        Assert.Equal(1L, await consumer.ScalarAsync<long>("SELECT count(*) FROM handled WHERE event_id = 'evt_a'"));
        Assert.Equal(0, (await connection.GetDatabase().StreamPendingAsync(ResourceNames.EventStream, consumer.Identity.Name)).PendingMessageCount);
    }

    [Fact]
    public async Task Bridge_waiting_for_its_next_poll_is_woken_by_the_relay_and_takes_a_new_event_at_once()
    {
        await using var services = await TwoServices.StartAsync(servers);
        var (redis, connection, producer, consumer, handler) = services;
        // A poll interval no test waits out: only the relay's wake-up notice can make the bridge read the second event.
        using var bridge = consumer.Bridge(handler, new EventBusOptions { PollInterval = TimeSpan.FromMinutes(1) });
        await bridge.EnsureGroupAsync();
        await bridge.StartAsync(default);
        try
        {
            const string bridged = "SELECT count(*) FROM work_items WHERE key LIKE @key";
            await producer.PublishAsync("test.happened", "evt_first", new { value = 1 });
            await producer.Relay().PublishBatchAsync(default);
            await Eventually.UntilAsync(async () => await consumer.ScalarAsync<long>(bridged, new { key = "evt:evt_first:%" }) == 1, "the first event bridged");

            await producer.PublishAsync("test.happened", "evt_second", new { value = 2 });
            await producer.Relay().PublishBatchAsync(default);
            await Eventually.UntilAsync(async () => await consumer.ScalarAsync<long>(bridged, new { key = "evt:evt_second:%" }) == 1,
                "the second event bridged before the next poll", TimeSpan.FromSeconds(30));
        }
        finally
        {
            await bridge.StopAsync(default);
        }
    }

    [Fact]
    public async Task Replica_that_dies_before_acknowledging_an_event_does_not_make_it_handled_twice()
    {
        await using var services = await TwoServices.StartAsync(servers);
        var (redis, connection, producer, consumer, handler) = services;
        var options = new EventBusOptions { ClaimIdleTime = TimeSpan.FromMilliseconds(200) };
        var crashing = consumer.Bridge(handler, options);
        crashing.BeforeAcknowledge = _ => throw new ProcessCrashed();
        await crashing.EnsureGroupAsync();

        await producer.PublishAsync("test.happened", "evt_crash", new { value = 2 });
        await producer.Relay().PublishBatchAsync(default);
        await Assert.ThrowsAsync<ProcessCrashed>(() => crashing.PollOnceAsync(default));
        Assert.Equal(1, (await connection.GetDatabase().StreamPendingAsync(ResourceNames.EventStream, consumer.Identity.Name)).PendingMessageCount);

        // Another replica takes the entry over once it has been idle long enough; the work item already exists.
        var survivor = consumer.Bridge(handler, options);
        await Task.Delay(400);
        Assert.Equal(1, await survivor.PollOnceAsync(default));
        await MessagingHarness.DrainAsync(consumer.Runner(new EventHandlerWork(handler)));

        Assert.Equal(1L, await consumer.ScalarAsync<long>("SELECT count(*) FROM handled WHERE event_id = 'evt_crash'"));
        Assert.Equal(0, (await connection.GetDatabase().StreamPendingAsync(ResourceNames.EventStream, consumer.Identity.Name)).PendingMessageCount);
    }

    [Fact]
    public async Task Acknowledged_events_survive_kill_9_of_redis()
    {
        await using var services = await TwoServices.StartAsync(servers);
        var (redis, connection, producer, consumer, handler) = services;
        var bridge = consumer.Bridge(handler);
        await bridge.EnsureGroupAsync();
        for (var i = 0; i < 5; i++)
        {
            await producer.PublishAsync("test.happened", $"evt_signup_{i}", new { value = i });
        }

        Assert.Equal(5, await producer.Relay().PublishBatchAsync(default));
        redis.Kill();
        await redis.StartAsync();

        await PumpAsync(bridge, consumer.Runner(new EventHandlerWork(handler)));
        Assert.Equal(5L, await consumer.ScalarAsync<long>("SELECT count(DISTINCT event_id) FROM handled"));
        Assert.Equal(5L, await consumer.ScalarAsync<long>("SELECT count(*) FROM handled"));
    }

    [Fact]
    public async Task Events_lost_with_redis_data_are_republished_and_each_is_handled_exactly_once()
    {
        await using var services = await TwoServices.StartAsync(servers);
        var (redis, connection, producer, consumer, handler) = services;
        var bridge = consumer.Bridge(handler, new EventBusOptions { BatchSize = 2 });
        var runner = consumer.Runner(new EventHandlerWork(handler));
        var relay = producer.Relay();
        await relay.CheckEpochAsync(default);
        await bridge.EnsureGroupAsync();
        for (var i = 0; i < 5; i++)
        {
            await producer.PublishAsync("test.happened", $"evt_lost_{i}", new { value = i });
        }

        Assert.Equal(5, await relay.PublishBatchAsync(default));
        Assert.Equal(2, await bridge.PollOnceAsync(default)); // two were taken before the crash
        await MessagingHarness.DrainAsync(runner);

        redis.Kill();
        redis.WipeData();
        await redis.StartAsync();

        Assert.Equal(5, await relay.CheckEpochAsync(default));
        Assert.Equal(5, await relay.PublishBatchAsync(default));
        await PumpAsync(bridge, runner);

        Assert.Equal(5L, await consumer.ScalarAsync<long>("SELECT count(DISTINCT event_id) FROM handled"));
        Assert.Equal(5L, await consumer.ScalarAsync<long>("SELECT count(*) FROM handled"));
    }

    [Fact]
    public async Task Trace_context_of_the_producing_request_reaches_the_consuming_handler()
    {
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name.StartsWith("Sunaiva", StringComparison.Ordinal) || s.Name == "test",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var source = new ActivitySource("test");
        await using var services = await TwoServices.StartAsync(servers);
        var (redis, connection, producer, consumer, handler) = services;

        string requestTraceId;
        using (var request = source.StartActivity("POST /webhooks/stripe"))
        {
            requestTraceId = request!.TraceId.ToString();
            await producer.PublishAsync("test.happened", "evt_traced", new { value = 7 });
        }

        await producer.Relay().PublishBatchAsync(default);
        await PumpAsync(consumer.Bridge(handler), consumer.Runner(new EventHandlerWork(handler)));

        Assert.NotNull(handler.SeenTraceParent);
        Assert.Equal(requestTraceId, ActivityContext.Parse(handler.SeenTraceParent!, null).TraceId.ToString());
    }

    private static async Task PumpAsync(EventStreamBridge bridge, Sunaiva.Messaging.Work.WorkRunner runner)
    {
        await bridge.EnsureGroupAsync();
        for (var round = 0; round < 5; round++)
        {
            while (await bridge.PollOnceAsync(default) > 0)
            {
            }

            await MessagingHarness.DrainAsync(runner);
        }
    }

    private sealed class ProcessCrashed : Exception;

    /// <summary>A Redis of the test's own and two services (producer, consumer) with their own databases.</summary>
    private sealed record TwoServices(RedisProcess Redis, ConnectionMultiplexer Connection, MessagingHarness Producer, MessagingHarness Consumer, TableRecordingHandler Handler)
        : IAsyncDisposable
    {
        public static async Task<TwoServices> StartAsync(LocalServers servers)
        {
            var redis = new RedisProcess();
            await redis.StartAsync();
            var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
            return new TwoServices(redis, connection, await MessagingHarness.CreateAsync(servers, connection), await MessagingHarness.CreateAsync(servers, connection), new TableRecordingHandler());
        }

        public async ValueTask DisposeAsync()
        {
            await Consumer.DisposeAsync();
            await Producer.DisposeAsync();
            await Connection.DisposeAsync();
            await Redis.DisposeAsync();
        }
    }
}
