using Sunaiva.Contracts;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Sunaiva.Messaging.Events;

/// <summary>
/// Moves committed outbox rows to the Redis stream. Rows are leased in a short statement (no lock is held while Redis is
/// called), published, then marked published; a crash in between publishes an event twice, which consumers drop by id.
/// Redis runs with an fsynced append-only file, and the relay also checks Redis's epoch: if Redis came back empty, the
/// recent outbox is published again, so nothing acknowledged is lost with Redis's memory.
/// </summary>
public sealed partial class OutboxRelay(
    NpgsqlDataSource dataSource,
    IConnectionMultiplexer redis,
    OutboxSignal signal,
    ServiceIdentity identity,
    IOptions<EventBusOptions> options,
    TimeProvider time,
    ILogger<OutboxRelay> logger) : BackgroundService
{
    public const string EpochKey = "sunaiva.events.epoch";

    private static readonly TimeSpan IdleWait = TimeSpan.FromMilliseconds(500);

    private DateTimeOffset _lastEpochCheck = DateTimeOffset.MinValue;
    private readonly CommitRepolls _repolls = new(signal, 5);
    private DateTimeOffset _lastCleanup = DateTimeOffset.MinValue;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await CheckEpochIfDueAsync(stoppingToken);

                // A writer that signals before its transaction commits (EventOutbox.AddAsync) may commit after this claim:
                // after such a signal look again soon, then settle on the idle interval, so its event waits milliseconds,
                // not a whole poll, to leave. A claim that found what a committed signal announced is not followed by more.
                _repolls.BeforeClaim();
                var published = await PublishBatchAsync(stoppingToken);
                if (published >= options.Value.BatchSize)
                {
                    // A full batch: more may be waiting.
                    continue;
                }

                if (published > 0)
                {
                    _repolls.Found();
                }

                if (_repolls.NextDelay() is { } delay)
                {
                    await signal.WaitAsync(delay, stoppingToken);
                    continue;
                }

                await CleanupIfDueAsync(stoppingToken);
                await signal.WaitAsync(IdleWait, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogRelayFailed(logger, ex);
                try
                {
                    // A pause on the real clock, not the service's (a test's stands still and would stop the relay for good).
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    internal async Task<int> PublishBatchAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        List<OutboxRow> rows;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            rows = (await connection.QueryAsync<OutboxRow>(new CommandDefinition(
                """
                UPDATE outbox SET relay_lease_until = @until
                WHERE id IN (SELECT id FROM outbox
                             WHERE published_at IS NULL AND (relay_lease_until IS NULL OR relay_lease_until < @now)
                             ORDER BY occurred_at, id LIMIT @limit FOR UPDATE SKIP LOCKED)
                RETURNING id, type, payload::text AS payload, occurred_at AS occurredat, traceparent
                """,
                new { now, until = now + options.Value.RelayLease, limit = options.Value.BatchSize }, cancellationToken: cancellationToken))).ToList();
        }

        if (rows.Count == 0)
        {
            return 0;
        }

        rows.Sort((a, b) => a.OccurredAt != b.OccurredAt ? a.OccurredAt.CompareTo(b.OccurredAt) : string.CompareOrdinal(a.Id, b.Id));
        var db = redis.GetDatabase();
        using var activity = Sunaiva.Messaging.Work.WorkRunner.ActivitySource.StartActivity(
            "publish " + ResourceNames.EventStream, System.Diagnostics.ActivityKind.Producer,
            rows[0].TraceParent is { } first && System.Diagnostics.ActivityContext.TryParse(first, null, out var parent) ? parent : default);
        activity?.SetTag("messaging.system", "redis");
        activity?.SetTag("messaging.batch.message_count", rows.Count);
        var adds = rows.Select(row => db.StreamAddAsync(
            ResourceNames.EventStream,
            [
                new NameValueEntry("id", row.Id),
                new NameValueEntry("type", row.Type),
                new NameValueEntry("source", identity.Name),
                new NameValueEntry("occurred_at", row.OccurredAt.ToUniversalTime().ToString("O")),
                new NameValueEntry("data", row.Payload),
                new NameValueEntry("traceparent", row.TraceParent ?? string.Empty),
            ],
            maxLength: options.Value.MaxStreamLength,
            useApproximateMaxLength: true)).ToList();
        await Task.WhenAll(adds);

        // Bridges of every service wake on this instead of their next poll; a lost notice only costs that poll.
        await db.PublishAsync(EventStreamBridge.WakeChannel, rows.Count, StackExchange.Redis.CommandFlags.FireAndForget);

        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE outbox SET published_at = @at, relay_lease_until = NULL WHERE id = ANY(@ids)",
                new { at = time.GetUtcNow(), ids = rows.Select(r => r.Id).ToArray() }, cancellationToken: CancellationToken.None));
        }

        return rows.Count;
    }

    /// <summary>
    /// Compares Redis's epoch with the one this service last published into. A new epoch means Redis lost its data
    /// (a restart without its files): events published within <see cref="EventBusOptions.RepublishWindow"/> go out again.
    /// </summary>
    internal async Task<int> CheckEpochAsync(CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        await db.StringSetAsync(EpochKey, Guid.NewGuid().ToString("N"), when: When.NotExists);
        var epoch = (string?)await db.StringGetAsync(EpochKey) ?? throw new InvalidOperationException("Redis returned no epoch");
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var known = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT epoch FROM event_relay_state WHERE stream = @stream", new { stream = ResourceNames.EventStream }, cancellationToken: cancellationToken));
        if (known == epoch)
        {
            return 0;
        }

        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var republished = 0;
        if (known is not null)
        {
            republished = await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE outbox SET published_at = NULL, relay_lease_until = NULL WHERE published_at >= @since",
                new { since = time.GetUtcNow() - options.Value.RepublishWindow }, tx, cancellationToken: cancellationToken));
            LogRepublishing(logger, republished);
        }

        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO event_relay_state (stream, epoch) VALUES (@stream, @epoch)
            ON CONFLICT (stream) DO UPDATE SET epoch = EXCLUDED.epoch
            """,
            new { stream = ResourceNames.EventStream, epoch }, tx, cancellationToken: cancellationToken));
        await tx.CommitAsync(cancellationToken);
        signal.NotifyCommitted();
        return republished;
    }

    private async Task CheckEpochIfDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now - _lastEpochCheck < TimeSpan.FromSeconds(2))
        {
            return;
        }

        await CheckEpochAsync(cancellationToken);
        _lastEpochCheck = now;
    }

    private async Task CleanupIfDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now - _lastCleanup < TimeSpan.FromMinutes(10))
        {
            return;
        }

        _lastCleanup = now;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < @before LIMIT 5000)",
            new { before = now - options.Value.OutboxRetention }, cancellationToken: cancellationToken));
    }

    private sealed record OutboxRow(string Id, string Type, string Payload, DateTime OccurredAt, string? TraceParent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox relay failed; retrying")]
    private static partial void LogRelayFailed(ILogger logger, Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis came back without its event stream: republishing {Count} recent event(s)")]
    private static partial void LogRepublishing(ILogger logger, int count);
}
