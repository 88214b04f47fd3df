using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Sunaiva.ServiceDefaults.Events;

/// <summary>
/// Moves committed outbox rows to the Redis stream. Rows are locked with SKIP LOCKED so replicas share the
/// work; a crash between XADD and the update publishes an event twice, which consumers deduplicate by id.
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
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var published = await PublishBatchAsync(stoppingToken);
                if (published == 0)
                {
                    await signal.WaitAsync(TimeSpan.FromSeconds(1), stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogRelayFailed(logger, ex);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
        }
    }

    internal async Task<int> PublishBatchAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<OutboxRow>(new CommandDefinition(
            """
            SELECT id, type, payload::text AS payload, occurred_at AS occurredat FROM outbox
            WHERE published_at IS NULL ORDER BY occurred_at, id LIMIT @limit FOR UPDATE SKIP LOCKED
            """,
            new { limit = options.Value.BatchSize }, tx, cancellationToken: cancellationToken))).ToList();
        if (rows.Count == 0)
        {
            return 0;
        }

        var db = redis.GetDatabase();
        foreach (var row in rows)
        {
            await db.StreamAddAsync(
                ResourceNames.EventStream,
                [
                    new NameValueEntry("id", row.Id),
                    new NameValueEntry("type", row.Type),
                    new NameValueEntry("source", identity.Name),
                    new NameValueEntry("occurred_at", row.OccurredAt.ToUniversalTime().ToString("O")),
                    new NameValueEntry("data", row.Payload),
                ],
                maxLength: options.Value.MaxStreamLength,
                useApproximateMaxLength: true);
        }

        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE outbox SET published_at = @at WHERE id = ANY(@ids)",
            new { at = time.GetUtcNow(), ids = rows.Select(r => r.Id).ToArray() }, tx, cancellationToken: cancellationToken));
        await tx.CommitAsync(cancellationToken);
        return rows.Count;
    }

    private sealed record OutboxRow(string Id, string Type, string Payload, DateTime OccurredAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox relay failed; retrying")]
    private static partial void LogRelayFailed(ILogger logger, Exception ex);
}
