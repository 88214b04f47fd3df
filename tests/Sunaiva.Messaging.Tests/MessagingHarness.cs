using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using StackExchange.Redis;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.Messaging.Work;
using Sunaiva.ServiceDefaults;
using Sunaiva.ServiceDefaults.Data;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Testing;

namespace Sunaiva.Messaging.Tests;

/// <summary>One service's messaging parts (its own migrated database) wired by hand against real Postgres and Redis.</summary>
public sealed class MessagingHarness : IAsyncDisposable
{
    private MessagingHarness(string service, NpgsqlDataSource data, IConnectionMultiplexer redis, TimeProvider time, WorkOptions options)
    {
        Identity = new ServiceIdentity(service, "1");
        Data = data;
        Redis = redis;
        Time = time;
        Options = options;
        Signal = new WorkSignal();
        Store = new WorkStore(data, time);
        Queue = new WorkQueue(data, Signal, Microsoft.Extensions.Options.Options.Create(options), time);
    }

    public ServiceIdentity Identity { get; }

    public NpgsqlDataSource Data { get; }

    public IConnectionMultiplexer Redis { get; }

    public TimeProvider Time { get; }

    public WorkOptions Options { get; }

    public WorkSignal Signal { get; }

    public WorkStore Store { get; }

    public WorkQueue Queue { get; }

    public static async Task<MessagingHarness> CreateAsync(LocalServers servers, IConnectionMultiplexer redis, TimeProvider? time = null, WorkOptions? options = null)
    {
        var name = LocalServers.NewDatabaseName("msg");
        var connectionString = servers.PostgresConnectionString(name);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"ConnectionStrings:{name}"] = connectionString }).Build();
        var data = NpgsqlDataSource.Create(connectionString);
        await new DatabaseMigrator(data, configuration, new DatabaseName(name), [new MigrationSource(typeof(WorkRunner).Assembly, "messaging/")],
            NullLogger<DatabaseMigrator>.Instance, TimeProvider.System).RunAsync(CancellationToken.None);
        await using (var connection = await data.OpenConnectionAsync())
        {
            await Dapper.SqlMapper.ExecuteAsync(connection, "CREATE TABLE handled (event_id text NOT NULL)");
        }

        return new MessagingHarness("svc" + Guid.NewGuid().ToString("N")[..8], data, redis, time ?? TimeProvider.System, options ?? new WorkOptions());
    }

    public WorkRunner Runner(params IWorkHandler[] handlers) =>
        new(Store, Data, Signal, handlers, Microsoft.Extensions.Options.Options.Create(Options), Identity, Time, NullLogger<WorkRunner>.Instance);

    public EventOutbox Outbox() => new(new OutboxSignal(), Time);

    public OutboxRelay Relay(EventBusOptions? options = null) =>
        new(Data, Redis, new OutboxSignal(), Identity, Microsoft.Extensions.Options.Options.Create(options ?? new EventBusOptions()), Time, NullLogger<OutboxRelay>.Instance);

    public EventStreamBridge Bridge(IIntegrationEventHandler handler, EventBusOptions? options = null) =>
        new(Data, Redis, Queue, Identity, Microsoft.Extensions.Options.Options.Create(options ?? new EventBusOptions()), [handler], Time, NullLogger<EventStreamBridge>.Instance);

    public WebhookInbox Inbox(params IWebhookProcessor[] processors) => new(Data, Queue, processors, Time, NullLogger<WebhookInbox>.Instance);

    public async Task PublishAsync(string type, string id, object data)
    {
        await using var connection = await Data.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await Outbox().AddAsync(connection, tx, type, data, id);
        await tx.CommitAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql, object? args = null)
    {
        await using var connection = await Data.OpenConnectionAsync();
        return await Dapper.SqlMapper.ExecuteScalarAsync<T>(connection, sql, args) ?? throw new InvalidOperationException("no value: " + sql);
    }

    /// <summary>Runs due work until none is left (handlers run as the background runner would run them).</summary>
    public static async Task<int> DrainAsync(WorkRunner runner)
    {
        var total = 0;
        for (var ran = await runner.RunDueOnceAsync(CancellationToken.None); ran > 0; ran = await runner.RunDueOnceAsync(CancellationToken.None))
        {
            total += ran;
        }

        return total;
    }

    public ValueTask DisposeAsync() => Data.DisposeAsync();
}

/// <summary>A handler that records what it saw and can be told to fail.</summary>
public sealed class RecordingWork(string kind) : IWorkHandler
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _handled = new();

    public string Kind { get; } = kind;

    /// <summary>Decides per item whether (and how) it fails; null to succeed.</summary>
    public Func<WorkItem, Exception?> FailWith { get; set; } = _ => null;

    public List<string> Handled => [.. _handled];

    public Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        if (FailWith(context.Item) is { } failure)
        {
            throw failure;
        }

        _handled.Enqueue(context.Item.Key);
        return Task.CompletedTask;
    }
}

/// <summary>An event handler that records event ids in its own table, inside the work item's transaction.</summary>
public sealed class TableRecordingHandler : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } = ["test.happened"];

    public string? SeenTraceParent { get; private set; }

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        SeenTraceParent = System.Diagnostics.Activity.Current?.ParentId;
        await Dapper.SqlMapper.ExecuteAsync(connection, new Dapper.CommandDefinition(
            "INSERT INTO handled (event_id) VALUES (@id)",
            new { id = integrationEvent.Id }, transaction, cancellationToken: cancellationToken));
    }
}
