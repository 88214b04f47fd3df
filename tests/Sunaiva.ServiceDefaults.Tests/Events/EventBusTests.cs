using System.Collections.Concurrent;
using Dapper;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;
using Sunaiva.ServiceDefaults.Data;
using Sunaiva.ServiceDefaults.Events;
using Sunaiva.ServiceDefaults.Tests.Integration;
using Sunaiva.Testing;

namespace Sunaiva.ServiceDefaults.Tests.Events;

/// <summary>Outbox, relay and consumer against real Postgres and Redis processes.</summary>
[Collection(ServersCollection.Name)]
public sealed class EventBusTests(LocalServers servers) : IAsyncLifetime
{
    private readonly string _database = LocalServers.NewDatabaseName("bus");
    private readonly string _consumerGroup = "grp" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _producer = "prod" + Guid.NewGuid().ToString("N")[..8];
    private NpgsqlDataSource _producerDb = null!;
    private NpgsqlDataSource _consumerDb = null!;
    private ConnectionMultiplexer _redis = null!;

    public async Task InitializeAsync()
    {
        _producerDb = await MigratedDatabaseAsync(_database + "_p");
        _consumerDb = await MigratedDatabaseAsync(_database + "_c");
        _redis = await ConnectionMultiplexer.ConnectAsync(servers.RedisConnectionString);
        // Each test uses its own stream position: start from an empty stream.
        await _redis.GetDatabase().KeyDeleteAsync(ResourceNames.EventStream);
    }

    public async Task DisposeAsync()
    {
        await _producerDb.DisposeAsync();
        await _consumerDb.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task Event_written_to_the_outbox_is_relayed_and_handled_once_by_another_service()
    {
        var handler = new RecordingHandler();
        var consumer = Consumer(handler);
        await consumer.EnsureGroupAsync();

        await PublishAsync("evt_a", new { value = 1 });
        await PublishAsync("evt_a", new { value = 1 }); // the same fact recorded again by a retried request
        Assert.Equal(1, await RelayAsync());

        await PollUntilQuietAsync(consumer);
        Assert.Equal(["evt_a"], handler.Handled);
        Assert.Equal(0, (await _redis.GetDatabase().StreamPendingAsync(ResourceNames.EventStream, _consumerGroup)).PendingMessageCount);
    }

    [Fact]
    public async Task Consumer_that_dies_after_handling_and_before_acknowledging_is_not_handled_twice()
    {
        var handler = new RecordingHandler();
        var crashing = Consumer(handler, idle: TimeSpan.FromMilliseconds(200));
        crashing.BeforeAcknowledge = _ => throw new ProcessCrashed();
        await crashing.EnsureGroupAsync();

        await PublishAsync("evt_crash", new { value = 2 });
        await RelayAsync();
        await Assert.ThrowsAsync<ProcessCrashed>(() => crashing.PollOnceAsync(CancellationToken.None));
        Assert.Equal(["evt_crash"], handler.Handled);
        Assert.Equal(1, (await _redis.GetDatabase().StreamPendingAsync(ResourceNames.EventStream, _consumerGroup)).PendingMessageCount);

        // Another replica claims the message once it has been idle long enough; it recognises it as handled.
        var survivor = Consumer(handler, idle: TimeSpan.FromMilliseconds(200));
        await Task.Delay(400);
        Assert.Equal(1, await survivor.PollOnceAsync(CancellationToken.None));

        Assert.Equal(["evt_crash"], handler.Handled);
        Assert.Equal(0, (await _redis.GetDatabase().StreamPendingAsync(ResourceNames.EventStream, _consumerGroup)).PendingMessageCount);
        await using var connection = await _consumerDb.OpenConnectionAsync();
        Assert.Equal(1, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM processed_events WHERE event_id = 'evt_crash'"));
    }

    [Fact]
    public async Task Handler_that_throws_rolls_back_and_the_event_is_retried()
    {
        var handler = new RecordingHandler { FailuresLeft = 1 };
        var consumer = Consumer(handler, idle: TimeSpan.FromMilliseconds(200));
        await consumer.EnsureGroupAsync();
        await PublishAsync("evt_retry", new { value = 3 });
        await RelayAsync();

        await consumer.PollOnceAsync(CancellationToken.None);
        Assert.Empty(handler.Handled);
        await using (var connection = await _consumerDb.OpenConnectionAsync())
        {
            Assert.Equal(0, await connection.ExecuteScalarAsync<int>("SELECT count(*) FROM processed_events WHERE event_id = 'evt_retry'"));
        }

        await Task.Delay(400);
        await consumer.PollOnceAsync(CancellationToken.None);
        Assert.Equal(["evt_retry"], handler.Handled);
    }

    [Fact]
    public async Task Poison_message_moves_to_the_dead_letter_stream_after_max_deliveries()
    {
        var handler = new RecordingHandler { FailuresLeft = int.MaxValue };
        var consumer = Consumer(handler, idle: TimeSpan.FromMilliseconds(100), maxDeliveries: 2);
        await consumer.EnsureGroupAsync();
        var db = _redis.GetDatabase();
        var deadBefore = await db.StreamLengthAsync(ResourceNames.DeadLetterStream);
        await PublishAsync("evt_poison", new { value = 4 });
        await RelayAsync();

        for (var i = 0; i < 6; i++)
        {
            await consumer.PollOnceAsync(CancellationToken.None);
            await Task.Delay(150);
        }

        Assert.Equal(deadBefore + 1, await db.StreamLengthAsync(ResourceNames.DeadLetterStream));
        var dead = (await db.StreamRangeAsync(ResourceNames.DeadLetterStream, "-", "+", 1, Order.Descending)).Single();
        Assert.Equal("evt_poison", (string?)dead["id"]);
        Assert.Equal(_consumerGroup, (string?)dead["consumer_group"]);
        Assert.Equal(1, (long)await db.HashGetAsync(EventConsumer.DeadLetterCountKey, _consumerGroup));
        Assert.Equal(0, (await db.StreamPendingAsync(ResourceNames.EventStream, _consumerGroup)).PendingMessageCount);
        Assert.Empty(handler.Handled);

        // Once the cause is fixed, ops replays the dead letter: handled once, gone from the dead-letter stream.
        handler.FailuresLeft = 0;
        var replay = await DeadLetterApi.ReplayAsync(db, new ServiceIdentity(_consumerGroup, "1"));
        Assert.Equal(["evt_poison"], replay.EventIds);
        await PollUntilQuietAsync(consumer);
        Assert.Equal(["evt_poison"], handler.Handled);
        Assert.Equal(deadBefore, await db.StreamLengthAsync(ResourceNames.DeadLetterStream));
        Assert.Equal(0, (long)await db.HashGetAsync(EventConsumer.DeadLetterCountKey, _consumerGroup));
    }

    [Fact]
    public void Failing_event_is_retried_with_growing_delays_capped_at_the_maximum()
    {
        var consumer = new EventConsumer(_consumerDb, _redis, new ServiceIdentity(_consumerGroup, "1"),
            Options.Create(new EventBusOptions { ClaimIdleTime = TimeSpan.FromSeconds(15), MaxRetryDelay = TimeSpan.FromMinutes(5) }),
            [], TimeProvider.System, NullLogger<EventConsumer>.Instance);
        Assert.Equal(
            [15, 30, 60, 120, 240, 300, 300],
            new[] { 1, 2, 3, 4, 5, 6, 20 }.Select(n => consumer.RetryDelay(n).TotalSeconds));
    }

    [Fact]
    public async Task Outbox_row_rolled_back_with_its_transaction_is_never_published()
    {
        await using (var connection = await _producerDb.OpenConnectionAsync())
        await using (var tx = await connection.BeginTransactionAsync())
        {
            await new EventOutbox(new OutboxSignal(), TimeProvider.System).AddAsync(connection, tx, "test.happened", new { value = 5 }, "evt_rolled_back");
            await tx.RollbackAsync();
        }

        Assert.Equal(0, await RelayAsync());
        Assert.Equal(0, await _redis.GetDatabase().StreamLengthAsync(ResourceNames.EventStream));
    }

    private async Task PublishAsync(string id, object data)
    {
        await using var connection = await _producerDb.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await new EventOutbox(new OutboxSignal(), TimeProvider.System).AddAsync(connection, tx, "test.happened", data, id);
        await tx.CommitAsync();
    }

    private Task<int> RelayAsync() =>
        new OutboxRelay(_producerDb, _redis, new OutboxSignal(), new ServiceIdentity(_producer, "1"), Options.Create(new EventBusOptions()), TimeProvider.System, NullLogger<OutboxRelay>.Instance)
            .PublishBatchAsync(CancellationToken.None);

    private EventConsumer Consumer(RecordingHandler handler, TimeSpan? idle = null, int maxDeliveries = 5) =>
        new(_consumerDb, _redis, new ServiceIdentity(_consumerGroup, "1"),
            Options.Create(new EventBusOptions { ClaimIdleTime = idle ?? TimeSpan.FromSeconds(15), MaxDeliveries = maxDeliveries }),
            [handler], TimeProvider.System, NullLogger<EventConsumer>.Instance);

    private static async Task PollUntilQuietAsync(EventConsumer consumer)
    {
        while (await consumer.PollOnceAsync(CancellationToken.None) > 0)
        {
        }
    }

    private async Task<NpgsqlDataSource> MigratedDatabaseAsync(string name)
    {
        var connectionString = servers.PostgresConnectionString(name);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"ConnectionStrings:{name}"] = connectionString }).Build();
        var source = NpgsqlDataSource.Create(connectionString);
        await new DatabaseMigrator(source, configuration, new DatabaseName(name), NullLogger<DatabaseMigrator>.Instance, TimeProvider.System).RunAsync(CancellationToken.None);
        return source;
    }

    private sealed class ProcessCrashed : Exception;

    private sealed class RecordingHandler : IIntegrationEventHandler
    {
        private readonly ConcurrentQueue<string> _handled = new();

        public int FailuresLeft { get; set; }

        public IReadOnlyCollection<string> EventTypes { get; } = ["test.happened"];

        public List<string> Handled => [.. _handled];

        public Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
        {
            if (FailuresLeft > 0)
            {
                FailuresLeft--;
                throw new InvalidOperationException("handler failure for the test");
            }

            _handled.Enqueue(integrationEvent.Id);
            return Task.CompletedTask;
        }
    }
}
