using Dapper;
using Npgsql;
using Polly;
using Polly.Retry;

namespace Sunaiva.Messaging.Work;

/// <summary>The SQL of claiming, renewing and finishing work items; every statement is a short transaction.</summary>
public sealed class WorkStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    /// <summary>
    /// Retries the recording of an outcome while the database is unreachable (a restart), about a minute in all, on the
    /// real clock: the service's clock is business time (due times, leases), and a test's stands still, so a retry waiting
    /// on it would keep its item running, and the service from stopping, for ever.
    /// </summary>
    internal ResiliencePipeline RecordPipeline { get; } = new ResiliencePipelineBuilder { TimeProvider = TimeProvider.System }
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder()
                .Handle<PostgresException>(ex => ex.IsTransient || ex.SqlState.StartsWith("57P", StringComparison.Ordinal) || ex.SqlState.StartsWith("08", StringComparison.Ordinal))
                .Handle<NpgsqlException>(ex => ex is not PostgresException && ex.IsTransient)
                .Handle<System.Net.Sockets.SocketException>(),
            MaxRetryAttempts = 12,
            Delay = TimeSpan.FromMilliseconds(250),
            MaxDelay = TimeSpan.FromSeconds(8),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
        })
        .Build();

    /// <summary>
    /// Leases up to <paramref name="limit"/> due items. Row locks (SKIP LOCKED) last only for this transaction; the lease
    /// (owner + until) is what reserves an item afterwards. Items of a partition whose lease another item holds are skipped.
    /// </summary>
    public async Task<IReadOnlyList<WorkItem>> ClaimAsync(string owner, int limit, TimeSpan lease, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var until = now + lease;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        // The due index yields items in (run_at, id) order, so a claim reads only the rows it takes. Statistics gathered
        // while the queue was short make the planner prefer a bitmap scan that fetches and sorts every due row instead:
        // each claim then costs as much as the whole backlog, just when a backlog has formed. A claim never wants that plan.
        var candidates = (await connection.QueryAsync<(long Id, string? PartitionKey)>(new CommandDefinition(
            """
            SET LOCAL enable_bitmapscan = off;
            SELECT id, partition_key FROM work_items
            WHERE status = 'pending' AND run_at <= @now AND (lease_until IS NULL OR lease_until < @now)
            ORDER BY run_at, id LIMIT @scan FOR UPDATE SKIP LOCKED
            """,
            new { now, scan = limit * 4 }, tx, cancellationToken: ct))).ToList();
        if (candidates.Count == 0)
        {
            return [];
        }

        var chosen = new List<long>(limit);
        var partitioned = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (id, partition) in candidates)
        {
            if (chosen.Count + partitioned.Count >= limit)
            {
                break;
            }

            if (partition is null)
            {
                chosen.Add(id);
            }
            else
            {
                partitioned.TryAdd(partition, id);
            }
        }

        if (partitioned.Count > 0)
        {
            // An upsert per partition: a racing claimer waits for this row, then sees a live lease and gets nothing.
            var won = await connection.QueryAsync<long>(new CommandDefinition(
                """
                INSERT INTO work_partitions (key, item_id, lease_until)
                SELECT k, i, @until FROM unnest(@keys::text[], @ids::bigint[]) AS p(k, i)
                ON CONFLICT (key) DO UPDATE SET item_id = EXCLUDED.item_id, lease_until = EXCLUDED.lease_until
                WHERE work_partitions.lease_until < @now
                RETURNING item_id
                """,
                new { keys = partitioned.Keys.ToArray(), ids = partitioned.Values.ToArray(), until, now }, tx, cancellationToken: ct));
            chosen.AddRange(won);
        }

        if (chosen.Count == 0)
        {
            await tx.CommitAsync(ct);
            return [];
        }

        var items = (await connection.QueryAsync<WorkItem>(new CommandDefinition(
            """
            UPDATE work_items SET lease_owner = @owner, lease_until = @until, attempts = attempts + 1
            WHERE id = ANY(@ids)
            RETURNING id, kind, key, partition_key AS partitionkey, payload, attempts, max_attempts AS maxattempts, traceparent, created_at AS createdat
            """,
            new { owner, until, ids = chosen.ToArray() }, tx, cancellationToken: ct))).ToList();
        await tx.CommitAsync(ct);
        return items.OrderBy(i => i.Id).ToList();
    }

    /// <summary>Extends the lease of items still held by <paramref name="owner"/> (and their partitions).</summary>
    public async Task RenewAsync(string owner, IReadOnlyCollection<long> ids, TimeSpan lease, CancellationToken ct)
    {
        if (ids.Count == 0)
        {
            return;
        }

        var until = time.GetUtcNow() + lease;
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            WITH renewed AS (
                UPDATE work_items SET lease_until = @until WHERE id = ANY(@ids) AND lease_owner = @owner AND status = 'pending'
                RETURNING id)
            UPDATE work_partitions SET lease_until = @until WHERE item_id IN (SELECT id FROM renewed)
            """,
            new { owner, until, ids = ids.ToArray() }, cancellationToken: ct));
    }

    /// <summary>Marks a leased item finished inside the caller's transaction; false when the lease is no longer ours.</summary>
    internal async Task<bool> FinishAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, WorkContext context, string status, string? note, CancellationToken ct)
    {
        // One statement (one round trip): the item's update and, when it was still ours, the release of its partition.
        var updated = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            WITH finished AS (
                UPDATE work_items SET status = @status, finished_at = @now, last_error = @note, lease_owner = NULL, lease_until = NULL
                WHERE id = @id AND lease_owner = @owner AND status = 'pending'
                RETURNING id, partition_key),
            released AS (
                DELETE FROM work_partitions p USING finished f WHERE p.key = f.partition_key AND p.item_id = f.id)
            SELECT count(*) FROM finished
            """,
            new { id = context.Item.Id, owner = context.Owner, status, note, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        return updated == 1;
    }

    public async Task<bool> FinishAsync(WorkContext context, string status, string? note, CancellationToken ct)
    {
        // A single statement is its own transaction.
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await FinishAsync(connection, null, context, status, note, ct);
    }

    /// <summary>Puts the item back for later; <paramref name="refundAttempt"/> when the failure was not the item's (an open circuit).</summary>
    public async Task<bool> RescheduleAsync(WorkContext context, DateTimeOffset runAt, string error, bool refundAttempt, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var updated = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            WITH rescheduled AS (
                UPDATE work_items SET run_at = @runAt, last_error = @error, lease_owner = NULL, lease_until = NULL,
                                      attempts = attempts - CASE WHEN @refund THEN 1 ELSE 0 END
                WHERE id = @id AND lease_owner = @owner AND status = 'pending'
                RETURNING id, partition_key),
            released AS (
                DELETE FROM work_partitions p USING rescheduled r WHERE p.key = r.partition_key AND p.item_id = r.id)
            SELECT count(*) FROM rescheduled
            """,
            new { id = context.Item.Id, owner = context.Owner, runAt, error, refund = refundAttempt }, cancellationToken: ct));
        return updated == 1;
    }

    /// <summary>Deletes finished items older than the retention, a bounded batch at a time.</summary>
    public async Task<int> PurgeAsync(TimeSpan retention, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            DELETE FROM work_items WHERE id IN (
                SELECT id FROM work_items WHERE status IN ('done', 'ignored') AND finished_at < @before LIMIT 5000)
            """,
            new { before = time.GetUtcNow() - retention }, cancellationToken: ct));
    }
}
