using System.Diagnostics;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Sunaiva.ServiceDefaults.Events;

/// <summary>Handles one or more event types inside the consumer's database transaction.</summary>
public interface IIntegrationEventHandler
{
    IReadOnlyCollection<string> EventTypes { get; }

    Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken);
}

/// <summary>
/// Reads <c>sunaiva.events</c> in this service's consumer group. Each event is handled in one transaction
/// together with its row in <c>processed_events</c>, so a redelivery after a crash (handled, not yet
/// acknowledged) is recognised and only acknowledged. Messages left pending by a dead consumer are claimed
/// after <see cref="EventBusOptions.ClaimIdleTime"/>; after <see cref="EventBusOptions.MaxDeliveries"/>
/// failed deliveries a message moves to the dead-letter stream.
/// </summary>
public sealed partial class EventConsumer : BackgroundService
{
    public const string DeadLetterCountKey = "sunaiva.events.dead.count";

    private readonly NpgsqlDataSource _dataSource;
    private readonly IConnectionMultiplexer _redis;
    private readonly ServiceIdentity _identity;
    private readonly EventBusOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<EventConsumer> _logger;
    private readonly Dictionary<string, List<IIntegrationEventHandler>> _handlers;
    private readonly ActivitySource _activitySource = new("Sunaiva.Events");
    private DateTimeOffset _lastClaim = DateTimeOffset.MinValue;

    public EventConsumer(
        NpgsqlDataSource dataSource,
        IConnectionMultiplexer redis,
        ServiceIdentity identity,
        IOptions<EventBusOptions> options,
        IEnumerable<IIntegrationEventHandler> handlers,
        TimeProvider time,
        ILogger<EventConsumer> logger)
    {
        _dataSource = dataSource;
        _redis = redis;
        _identity = identity;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _handlers = handlers
            .SelectMany(h => h.EventTypes.Select(t => (t, h)))
            .GroupBy(x => x.t)
            .ToDictionary(g => g.Key, g => g.Select(x => x.h).ToList());
        ConsumerName = $"{identity.Name}-{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";
    }

    public string GroupName => _identity.Name;

    public string ConsumerName { get; set; }

    /// <summary>Runs after an event is handled and committed, before it is acknowledged (a seam for crash tests).</summary>
    internal Func<IntegrationEvent, Task>? BeforeAcknowledge { get; set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await EnsureGroupAsync();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var handled = await PollOnceAsync(stoppingToken);
                if (handled == 0)
                {
                    await Task.Delay(_options.PollInterval, _time, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogConsumerFailed(_logger, ex);
                await Task.Delay(TimeSpan.FromSeconds(1), _time, stoppingToken);
            }
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

    /// <summary>Reads and handles one batch (claimed stale messages first); returns how many were processed.</summary>
    public async Task<int> PollOnceAsync(CancellationToken cancellationToken)
    {
        var db = _redis.GetDatabase();
        var processed = 0;
        var now = _time.GetUtcNow();
        if (now - _lastClaim >= _options.ClaimIdleTime / 2)
        {
            _lastClaim = now;
            foreach (var entry in await ClaimDueAsync(db))
            {
                await ProcessAsync(db, entry, claimed: true, cancellationToken);
                processed++;
            }
        }

        var entries = await db.StreamReadGroupAsync(ResourceNames.EventStream, GroupName, ConsumerName, ">", _options.BatchSize);
        foreach (var entry in entries)
        {
            await ProcessAsync(db, entry, claimed: false, cancellationToken);
            processed++;
        }

        return processed;
    }

    /// <summary>
    /// Pending messages (of a dead consumer, or failed here) whose back-off has passed: the n-th retry waits
    /// ClaimIdleTime x 2^(n-1), at most MaxRetryDelay, so a provider outage of minutes is outlasted before
    /// MaxDeliveries sends a message to the dead-letter stream.
    /// </summary>
    private async Task<StreamEntry[]> ClaimDueAsync(IDatabase db)
    {
        var idleMs = (long)_options.ClaimIdleTime.TotalMilliseconds;
        var pending = await db.StreamPendingMessagesAsync(
            ResourceNames.EventStream, GroupName, _options.BatchSize * 4, RedisValue.Null, "-", "+", idleMs);
        var due = pending
            .Where(p => p.IdleTimeInMilliseconds >= RetryDelay(p.DeliveryCount).TotalMilliseconds)
            .Select(p => p.MessageId)
            .Take(_options.BatchSize)
            .ToArray();
        if (due.Length == 0)
        {
            return [];
        }

        var claimed = await db.StreamClaimAsync(ResourceNames.EventStream, GroupName, ConsumerName, idleMs, due);
        var present = claimed.Where(e => !e.IsNull).ToArray();
        var trimmed = due.Except(present.Select(e => e.Id)).ToArray();
        if (trimmed.Length > 0)
        {
            // Trimmed from the stream while pending: nothing left to handle.
            await db.StreamAcknowledgeAsync(ResourceNames.EventStream, GroupName, trimmed);
        }

        return present;
    }

    internal TimeSpan RetryDelay(int deliveries)
    {
        var factor = Math.Pow(2, Math.Clamp(deliveries - 1, 0, 20));
        var delay = TimeSpan.FromMilliseconds(_options.ClaimIdleTime.TotalMilliseconds * factor);
        return delay < _options.MaxRetryDelay ? delay : _options.MaxRetryDelay;
    }

    private async Task ProcessAsync(IDatabase db, StreamEntry entry, bool claimed, CancellationToken cancellationToken)
    {
        IntegrationEvent integrationEvent;
        try
        {
            integrationEvent = Parse(entry);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or KeyNotFoundException)
        {
            await DeadLetterAsync(db, entry, "malformed event: " + ex.Message);
            return;
        }

        if (!_handlers.TryGetValue(integrationEvent.Type, out var handlers))
        {
            await db.StreamAcknowledgeAsync(ResourceNames.EventStream, GroupName, entry.Id);
            return;
        }

        if (claimed)
        {
            var pending = await db.StreamPendingMessagesAsync(ResourceNames.EventStream, GroupName, 1, RedisValue.Null, entry.Id, entry.Id);
            if (pending.Length == 1 && pending[0].DeliveryCount > _options.MaxDeliveries)
            {
                await DeadLetterAsync(db, entry, $"failed {pending[0].DeliveryCount - 1} deliveries");
                return;
            }
        }

        using var activity = _activitySource.StartActivity($"handle {integrationEvent.Type}", ActivityKind.Consumer);
        activity?.SetTag("messaging.system", "redis");
        activity?.SetTag("messaging.message.id", integrationEvent.Id);
        try
        {
            await HandleOnceAsync(integrationEvent, handlers, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Left pending: claimed again after the idle time, dead-lettered after MaxDeliveries.
            LogHandlerFailed(_logger, integrationEvent.Type, integrationEvent.Id, ex);
            activity?.SetStatus(ActivityStatusCode.Error);
            return;
        }

        if (BeforeAcknowledge is { } hook)
        {
            await hook(integrationEvent);
        }

        await db.StreamAcknowledgeAsync(ResourceNames.EventStream, GroupName, entry.Id);
    }

    private async Task HandleOnceAsync(IntegrationEvent integrationEvent, List<IIntegrationEventHandler> handlers, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO processed_events (event_id, type, handled_at) VALUES (@id, @type, @at) ON CONFLICT DO NOTHING",
            new { id = integrationEvent.Id, type = integrationEvent.Type, at = _time.GetUtcNow() }, tx, cancellationToken: cancellationToken));
        if (inserted == 0)
        {
            return;
        }

        foreach (var handler in handlers)
        {
            await handler.HandleAsync(integrationEvent, connection, tx, cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
    }

    private async Task DeadLetterAsync(IDatabase db, StreamEntry entry, string reason)
    {
        var fields = entry.Values.ToList();
        fields.Add(new NameValueEntry("stream_id", entry.Id));
        fields.Add(new NameValueEntry("consumer_group", GroupName));
        fields.Add(new NameValueEntry("reason", reason));
        fields.Add(new NameValueEntry("dead_at", _time.GetUtcNow().ToString("O")));
        await db.StreamAddAsync(ResourceNames.DeadLetterStream, [.. fields], maxLength: 100_000, useApproximateMaxLength: true);
        await db.HashIncrementAsync(DeadLetterCountKey, GroupName);
        await db.StreamAcknowledgeAsync(ResourceNames.EventStream, GroupName, entry.Id);
        LogDeadLettered(_logger, entry.Id.ToString(), reason);
    }

    internal static IntegrationEvent Parse(StreamEntry entry)
    {
        string Field(string name)
        {
            var value = entry[name];
            return value.IsNull ? throw new KeyNotFoundException($"field {name} missing") : value.ToString();
        }

        using var data = JsonDocument.Parse(Field("data"));
        return new IntegrationEvent(
            Field("id"),
            Field("type"),
            Field("source"),
            DateTimeOffset.Parse(Field("occurred_at"), System.Globalization.CultureInfo.InvariantCulture),
            data.RootElement.Clone());
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Event consumer loop failed; retrying")]
    private static partial void LogConsumerFailed(ILogger logger, Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Handler for {Type} failed on event {EventId}; it will be redelivered")]
    private static partial void LogHandlerFailed(ILogger logger, string type, string eventId, Exception ex);

    [LoggerMessage(Level = LogLevel.Error, Message = "Event {StreamId} moved to the dead-letter stream: {Reason}")]
    private static partial void LogDeadLettered(ILogger logger, string streamId, string reason);
}
