using Sunaiva.Contracts;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Messaging.Events;

/// <summary>
/// Handles one or more event types: database work only, run inside the short transaction that also marks its work item
/// done, so it happens exactly once. Anything that leaves the database (mail, HTTP, Stripe) is enqueued as work of its
/// own through <see cref="WorkQueue"/> in the same transaction.
/// </summary>
public interface IIntegrationEventHandler
{
    IReadOnlyCollection<string> EventTypes { get; }

    Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken);
}

/// <summary>
/// Carries events from the <c>sunaiva.events</c> stream into this service's durable work: each entry becomes one work item
/// per interested handler (key <c>evt:{event id}:{handler}</c>, so a redelivered or republished event is dropped), then
/// the entry is acknowledged. Nothing is handled here, so a poison event cannot hold the stream or other events back:
/// retries, back-off and dead letters are the work runner's, per item. Entries left pending by a dead replica are
/// taken over after <see cref="EventBusOptions.ClaimIdleTime"/>; a stream lost with Redis's data is recreated.
/// </summary>
public sealed partial class EventStreamBridge : BackgroundService
{
    public const string MalformedKind = "event:malformed";

    /// <summary>The relay publishes here after adding entries to the stream, so bridges read them at once.</summary>
    public static readonly RedisChannel WakeChannel = RedisChannel.Literal(ResourceNames.EventStream + ".wake");

    private readonly System.Threading.Channels.Channel<bool> _wake = System.Threading.Channels.Channel.CreateBounded<bool>(
        new System.Threading.Channels.BoundedChannelOptions(1) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite });

    private readonly NpgsqlDataSource _dataSource;
    private readonly IConnectionMultiplexer _redis;
    private readonly WorkQueue _queue;
    private readonly ServiceIdentity _identity;
    private readonly EventBusOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<EventStreamBridge> _logger;
    private readonly Dictionary<string, List<string>> _kindsByType;
    private DateTimeOffset _lastClaim = DateTimeOffset.MinValue;

    public EventStreamBridge(
        NpgsqlDataSource dataSource,
        IConnectionMultiplexer redis,
        WorkQueue queue,
        ServiceIdentity identity,
        IOptions<EventBusOptions> options,
        IEnumerable<IIntegrationEventHandler> handlers,
        TimeProvider time,
        ILogger<EventStreamBridge> logger)
    {
        _dataSource = dataSource;
        _redis = redis;
        _queue = queue;
        _identity = identity;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _kindsByType = handlers
            .SelectMany(h => h.EventTypes.Select(t => (t, kind: EventHandlerWork.KindOf(h))))
            .GroupBy(x => x.t, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(x => x.kind).Distinct(StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
        ConsumerName = $"{identity.Name}-{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";
    }

    public string GroupName => _identity.Name;

    public string ConsumerName { get; set; }

    /// <summary>Runs after entries are stored as work, before they are acknowledged (a seam for crash tests).</summary>
    internal Func<IReadOnlyList<StreamEntry>, Task>? BeforeAcknowledge { get; set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_kindsByType.Count == 0)
        {
            return;
        }

        await SubscribeQuietlyAsync();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Less than a batch: the stream is read to its end, and the relay's notice of what it adds next wakes this
                // (a notice published meanwhile is already waiting). Not a read at once that finds nothing.
                if (await PollOnceAsync(stoppingToken) < _options.BatchSize)
                {
                    await WaitForWakeAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogBridgeFailed(_logger, ex);
                try
                {
                    // A pause on the real clock, not the service's (a test's stands still and would stop the bridge for good).
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task SubscribeQuietlyAsync()
    {
        try
        {
            await _redis.GetSubscriber().SubscribeAsync(WakeChannel, (_, _) => _wake.Writer.TryWrite(true));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Polling alone still carries every entry; the subscription comes back with the multiplexer's reconnect.
            LogBridgeFailed(_logger, ex);
        }
    }

    /// <summary>Waits for the relay's notice or the poll interval, whichever comes first.</summary>
    private async Task WaitForWakeAsync(CancellationToken stoppingToken)
    {
        using var timeout = new CancellationTokenSource(_options.PollInterval, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
        try
        {
            await _wake.Reader.ReadAsync(linked.Token);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
        }
    }

    public async Task EnsureGroupAsync()
    {
        try
        {
            // From the start of the stream: events published before this service first ran are not lost.
            await _redis.GetDatabase().StreamCreateConsumerGroupAsync(ResourceNames.EventStream, GroupName, "0-0", createStream: true);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("BUSYGROUP", StringComparison.Ordinal))
        {
        }
    }

    /// <summary>Moves one batch (entries of dead consumers first) into work items; returns how many entries it took.</summary>
    public async Task<int> PollOnceAsync(CancellationToken cancellationToken)
    {
        var db = _redis.GetDatabase();
        var entries = new List<StreamEntry>();
        try
        {
            var now = _time.GetUtcNow();
            if (now - _lastClaim >= _options.ClaimIdleTime / 2)
            {
                _lastClaim = now;
                var claimed = await db.StreamAutoClaimAsync(
                    ResourceNames.EventStream, GroupName, ConsumerName, (long)_options.ClaimIdleTime.TotalMilliseconds, "0-0", _options.BatchSize);
                entries.AddRange(claimed.ClaimedEntries.Where(e => !e.IsNull));
                if (claimed.DeletedIds.Length > 0)
                {
                    await db.StreamAcknowledgeAsync(ResourceNames.EventStream, GroupName, claimed.DeletedIds);
                }
            }

            entries.AddRange(await db.StreamReadGroupAsync(ResourceNames.EventStream, GroupName, ConsumerName, ">", _options.BatchSize));
        }
        catch (RedisServerException ex) when (ex.Message.Contains("NOGROUP", StringComparison.Ordinal))
        {
            // First run, or Redis came back without its data: the group starts again from the beginning of the stream.
            LogGroupCreated(_logger, GroupName);
            await EnsureGroupAsync();
            return 0;
        }

        if (entries.Count == 0)
        {
            return 0;
        }

        using var activity = WorkRunner.ActivitySource.StartActivity("receive " + ResourceNames.EventStream, System.Diagnostics.ActivityKind.Consumer);
        activity?.SetTag("messaging.system", "redis");
        activity?.SetTag("messaging.consumer.group.name", GroupName);
        activity?.SetTag("messaging.batch.message_count", entries.Count);
        var work = new List<NewWork>(entries.Count);
        foreach (var entry in entries)
        {
            work.AddRange(ToWork(entry));
        }

        await using (var connection = await _dataSource.OpenConnectionAsync(cancellationToken))
        {
            await _queue.EnqueueAsync(connection, null, work, cancellationToken);
        }

        if (BeforeAcknowledge is { } hook)
        {
            await hook(entries);
        }

        await db.StreamAcknowledgeAsync(ResourceNames.EventStream, GroupName, entries.Select(e => e.Id).ToArray());
        return entries.Count;
    }

    private IEnumerable<NewWork> ToWork(StreamEntry entry)
    {
        IntegrationEvent integrationEvent;
        string? traceParent;
        try
        {
            (integrationEvent, traceParent) = Parse(entry);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or KeyNotFoundException)
        {
            LogMalformed(_logger, entry.Id.ToString(), ex.Message);
            var raw = JsonSerializer.Serialize(entry.Values.ToDictionary(v => v.Name.ToString(), v => v.Value.ToString()));
            // Kept as a dead item for ops to see (and replay once fixed); it never blocks anything.
            return [new NewWork(MalformedKind, $"evt-malformed:{entry.Id}", raw, MaxAttempts: 1)];
        }

        if (!_kindsByType.TryGetValue(integrationEvent.Type, out var kinds))
        {
            return [];
        }

        var payload = JsonSerializer.Serialize(integrationEvent, EventJson.Options);
        return kinds.Select(kind => new NewWork(kind, $"evt:{integrationEvent.Id}:{kind["event:".Length..]}", payload, TraceParent: traceParent));
    }

    internal static (IntegrationEvent Event, string? TraceParent) Parse(StreamEntry entry)
    {
        string Field(string name)
        {
            var value = entry[name];
            return value.IsNull ? throw new KeyNotFoundException($"field {name} missing") : value.ToString();
        }

        using var data = JsonDocument.Parse(Field("data"));
        var trace = entry["traceparent"];
        return (new IntegrationEvent(
            Field("id"),
            Field("type"),
            Field("source"),
            DateTimeOffset.Parse(Field("occurred_at"), System.Globalization.CultureInfo.InvariantCulture),
            data.RootElement.Clone()), trace.IsNullOrEmpty ? null : trace.ToString());
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event stream bridge failed; retrying")]
    private static partial void LogBridgeFailed(ILogger logger, Exception ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "Consumer group {Group} created on the event stream")]
    private static partial void LogGroupCreated(ILogger logger, string group);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stream entry {StreamId} is not an event ({Reason}); kept as a dead work item")]
    private static partial void LogMalformed(ILogger logger, string streamId, string reason);
}

/// <summary>Runs one <see cref="IIntegrationEventHandler"/> as durable work (kind <c>event:{handler type}</c>).</summary>
public sealed class EventHandlerWork(IIntegrationEventHandler handler) : IWorkHandler
{
    public static string KindOf(IIntegrationEventHandler handler) => "event:" + handler.GetType().Name;

    public string Kind { get; } = KindOf(handler);

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var integrationEvent = JsonSerializer.Deserialize<IntegrationEvent>(context.Item.Payload, EventJson.Options)
            ?? throw new JsonException("empty event payload");
        await context.CommitAsync((connection, tx, ct) => handler.HandleAsync(integrationEvent, connection, tx, ct), cancellationToken);
    }
}

/// <summary>Malformed stream entries are stored dead for ops; replaying one without a fix dead-letters it again.</summary>
internal sealed class MalformedEventWork : IWorkHandler
{
    public string Kind => EventStreamBridge.MalformedKind;

    public Task HandleAsync(WorkContext context, CancellationToken cancellationToken) =>
        throw new PermanentWorkFailureException("the stream entry is not a valid event");
}
