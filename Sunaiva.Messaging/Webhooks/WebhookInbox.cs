using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Dapper;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Messaging.Webhooks;

/// <summary>What storing a delivery did: stored now, already stored, or already stored with another payload.</summary>
public sealed record InboxResult(bool Stored, bool Conflict);

/// <summary>
/// The webhook inbox of every provider: one row per (provider, event id), stored together with its work item
/// (<c>webhook:{provider}</c>) by one atomic statement. Deliveries arriving together share that statement (group commit):
/// each caller is answered only once the batch holding its row is durable, so nothing is acknowledged that is not stored,
/// and one fsync serves many deliveries. One writer: deliveries arriving while a batch commits wait for it and form the
/// next, larger batch (8 rather than 5 per commit at 32 senders in bench/Sunaiva.Bench.Billing, with less CPU per ack in
/// Billing and Postgres than two writers; a slower disk only makes the batches larger, up to <see cref="MaxBatch"/>).
/// </summary>
public sealed partial class WebhookInbox(
    NpgsqlDataSource dataSource,
    WorkQueue queue,
    IEnumerable<IWebhookProcessor> processors,
    TimeProvider time,
    ILogger<WebhookInbox> logger) : BackgroundService
{
    private readonly Dictionary<string, IWebhookProcessor> _processors = processors.ToDictionary(p => p.Provider, StringComparer.Ordinal);

    private const int MaxBatch = 256;

    private readonly Channel<Pending> _pending = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });

    public static string KindOf(string provider) => "webhook:" + provider;

    public static string KeyOf(string provider, string id) => $"webhook:{provider}:{id}";

    /// <summary>Stores the delivery unless its id is known; completes when it is durable.</summary>
    public Task<InboxResult> StoreAsync(string provider, WebhookDelivery delivery, string source, CancellationToken cancellationToken)
    {
        // The batch is written on the inbox's own loop, outside the request: the request's trace context travels with the delivery.
        var pending = new Pending(provider, delivery, source, Sha256(delivery.Payload), Activity.Current?.Id,
            new TaskCompletionSource<InboxResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_pending.Writer.TryWrite(pending))
        {
            throw new InvalidOperationException("The webhook inbox is stopped.");
        }

        return pending.Completion.Task.WaitAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await WriteLoopAsync(stoppingToken);
        }
        finally
        {
            _pending.Writer.TryComplete();
            while (_pending.Reader.TryRead(out var left))
            {
                left.Completion.TrySetCanceled(CancellationToken.None);
            }
        }
    }

    /// <summary>
    /// The writer: takes whatever deliveries wait (up to <see cref="MaxBatch"/>) and writes them as one batch. While
    /// deliveries keep coming it keeps its connection: taking one from the pool per batch costs Npgsql's checkout and
    /// Postgres the session reset script Npgsql prepends after a return (parsed and run per batch, a tenth of Postgres's
    /// CPU per ack in bench/Sunaiva.Bench.Billing). It returns the connection whenever nothing waits, and after a failure.
    /// </summary>
    private async Task WriteLoopAsync(CancellationToken stoppingToken)
    {
        NpgsqlConnection? connection = null;
        var batch = new List<Pending>();
        try
        {
            while (true)
            {
                if (connection is not null && !_pending.Reader.TryPeek(out _))
                {
                    await connection.DisposeAsync();
                    connection = null;
                }

                if (!await _pending.Reader.WaitToReadAsync(stoppingToken))
                {
                    break;
                }

                batch.Clear();
                while (batch.Count < MaxBatch && _pending.Reader.TryRead(out var next))
                {
                    batch.Add(next);
                }

                try
                {
                    connection ??= await dataSource.OpenConnectionAsync(stoppingToken);
                    await WriteAsync(connection, batch, stoppingToken);
                }
                catch (Exception ex)
                {
                    LogBatchFailed(logger, batch.Count, ex);
                    foreach (var p in batch)
                    {
                        p.Completion.TrySetException(ex);
                    }

                    if (connection is not null)
                    {
                        await connection.DisposeAsync();
                        connection = null;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync();
            }
        }
    }

    private async Task WriteAsync(NpgsqlConnection connection, List<Pending> batch, CancellationToken cancellationToken)
    {
        // Batches of different replicas insert in one global key order: two holding the same id never wait on each other in a cycle.
        batch.Sort(static (a, b) =>
        {
            var byProvider = string.CompareOrdinal(a.Provider, b.Provider);
            return byProvider != 0 ? byProvider : string.CompareOrdinal(a.Delivery.Id, b.Delivery.Id);
        });
        var now = time.GetUtcNow().UtcDateTime;

        // One statement, so one round trip and atomic without a transaction: the rows, and the work item of each new row
        // whose type has a handler. A delivery is answered only after this statement committed.
        var inserted = (await connection.QueryAsync<(string Provider, string Id)>(new CommandDefinition(
            """
            WITH batch AS (
                SELECT * FROM unnest(@providers::text[], @ids::text[], @types::text[], @objects::text[], @accounts::text[], @versions::text[],
                                     @created::timestamptz[], @payloads::text[], @hashes::text[], @sources::text[],
                                     @kinds::text[], @keys::text[], @partitions::text[], @traces::text[], @attempts::int[])
                    AS b(provider, id, type, object_id, account, api_version, created, payload, payload_sha256, source, kind, key, partition_key, traceparent, max_attempts)
            ),
            stored AS (
                INSERT INTO webhook_inbox (provider, id, type, object_id, account, api_version, created, payload, payload_sha256, source, received_at)
                SELECT provider, id, type, object_id, account, api_version, created, payload, payload_sha256, source, @now FROM batch
                ON CONFLICT (provider, id) DO NOTHING
                RETURNING provider, id
            ),
            queued AS (
                INSERT INTO work_items (kind, key, partition_key, payload, max_attempts, run_at, traceparent, created_at)
                SELECT DISTINCT ON (b.provider, b.id) b.kind, b.key, b.partition_key, b.id, b.max_attempts, @now, b.traceparent, @now
                FROM batch b JOIN stored s ON s.provider = b.provider AND s.id = b.id
                WHERE b.kind IS NOT NULL
                ON CONFLICT (key) DO NOTHING
            )
            SELECT provider, id FROM stored
            """,
            new
            {
                providers = batch.Select(p => p.Provider).ToArray(),
                ids = batch.Select(p => p.Delivery.Id).ToArray(),
                types = batch.Select(p => p.Delivery.Type).ToArray(),
                objects = batch.Select(p => p.Delivery.ObjectId).ToArray(),
                accounts = batch.Select(p => p.Delivery.Account).ToArray(),
                versions = batch.Select(p => p.Delivery.ApiVersion).ToArray(),
                created = batch.Select(p => p.Delivery.Created?.UtcDateTime).ToArray(),
                payloads = batch.Select(p => p.Delivery.Payload).ToArray(),
                hashes = batch.Select(p => p.Sha256).ToArray(),
                sources = batch.Select(p => p.Source).ToArray(),
                kinds = batch.Select(p => HasWork(p) ? KindOf(p.Provider) : null).ToArray(),
                keys = batch.Select(p => KeyOf(p.Provider, p.Delivery.Id)).ToArray(),
                partitions = batch.Select(p => p.Delivery.PartitionKey is { } key ? $"{p.Provider}:{key}" : null).ToArray(),
                traces = batch.Select(p => p.TraceParent).ToArray(),
                attempts = batch.Select(p => queue.MaxAttemptsOf(KindOf(p.Provider))).ToArray(),
                now,
            },
            cancellationToken: cancellationToken))).ToHashSet();

        var results = new InboxResult[batch.Count];
        var duplicates = new List<int>();
        var queued = false;
        for (var i = 0; i < batch.Count; i++)
        {
            var p = batch[i];
            if (inserted.Remove((p.Provider, p.Delivery.Id)))
            {
                results[i] = new InboxResult(true, false);
                queued |= HasWork(p);
            }
            else
            {
                duplicates.Add(i);
            }
        }

        if (queued)
        {
            queue.NotifyAdded();
        }

        if (duplicates.Count > 0)
        {
            // Already stored (before, or earlier in this batch): the first payload is kept, another one is flagged.
            var known = (await connection.QueryAsync<(string Provider, string Id, string Sha)>(new CommandDefinition(
                "SELECT provider, id, payload_sha256 FROM webhook_inbox WHERE (provider, id) IN (SELECT * FROM unnest(@providers::text[], @ids::text[]))",
                new { providers = duplicates.Select(i => batch[i].Provider).ToArray(), ids = duplicates.Select(i => batch[i].Delivery.Id).ToArray() },
                cancellationToken: cancellationToken))).ToDictionary(k => (k.Provider, k.Id), k => k.Sha);
            var conflicts = new List<int>();
            foreach (var i in duplicates)
            {
                var p = batch[i];
                var conflict = known.TryGetValue((p.Provider, p.Delivery.Id), out var sha) && !string.Equals(sha, p.Sha256, StringComparison.Ordinal);
                results[i] = new InboxResult(false, conflict);
                if (conflict)
                {
                    conflicts.Add(i);
                    LogConflict(logger, p.Provider, p.Delivery.Id);
                }
            }

            if (conflicts.Count > 0)
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE webhook_inbox SET conflicts = conflicts + 1 WHERE (provider, id) IN (SELECT * FROM unnest(@providers::text[], @ids::text[]))",
                    new { providers = conflicts.Select(i => batch[i].Provider).ToArray(), ids = conflicts.Select(i => batch[i].Delivery.Id).ToArray() },
                    cancellationToken: cancellationToken));
            }
        }

        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Completion.TrySetResult(results[i]);
        }
    }

    // A provider whose processor runs in another replica (none registered here) keeps its work items.
    private bool HasWork(Pending pending) =>
        !_processors.TryGetValue(pending.Provider, out var processor) || processor.Handles(pending.Delivery.Type);

    /// <summary>Reads a stored delivery.</summary>
    public async Task<WebhookEnvelope?> ReadAsync(string provider, string id, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<WebhookEnvelope>(new CommandDefinition(
            """
            SELECT provider, id, type, object_id AS objectid, account, api_version AS apiversion, created, payload, source, received_at AS receivedat
            FROM webhook_inbox WHERE provider = @provider AND id = @id
            """,
            new { provider, id }, cancellationToken: cancellationToken));
    }

    private static string Sha256(string payload)
    {
        // Every ack hashes its payload: encoded into a pooled buffer and hashed into the stack, not two arrays per delivery.
        var utf8 = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(payload.Length));
        try
        {
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(utf8.AsSpan(0, Encoding.UTF8.GetBytes(payload, utf8)), hash);
            return Convert.ToHexStringLower(hash);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(utf8);
        }
    }

    private sealed record Pending(string Provider, WebhookDelivery Delivery, string Source, string Sha256, string? TraceParent, TaskCompletionSource<InboxResult> Completion);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook inbox batch of {Count} failed; the deliveries are not acknowledged")]
    private static partial void LogBatchFailed(ILogger logger, int count, Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {Provider} event {EventId} delivered again with a different payload; the first one is kept")]
    private static partial void LogConflict(ILogger logger, string provider, string eventId);
}
