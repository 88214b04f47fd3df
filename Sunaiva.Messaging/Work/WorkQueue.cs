using System.Diagnostics;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Sunaiva.Messaging.Work;

/// <summary>
/// Enqueues durable work. Inside the caller's transaction the work exists exactly when the change that caused it
/// commits; without one it is its own short transaction. A key already present is kept (idempotent enqueue).
/// </summary>
public sealed class WorkQueue(NpgsqlDataSource dataSource, WorkSignal signal, IOptions<WorkOptions> options, TimeProvider time)
{
    private const string InsertSql =
        """
        INSERT INTO work_items (kind, key, partition_key, payload, max_attempts, run_at, traceparent, created_at)
        SELECT * FROM unnest(@kinds::text[], @keys::text[], @partitions::text[], @payloads::text[], @maxAttempts::int[], @runAts::timestamptz[], @traces::text[], @createdAts::timestamptz[])
        ON CONFLICT (key) DO NOTHING
        """;

    /// <summary>Adds the items in the caller's transaction; returns how many were new.</summary>
    public async Task<int> EnqueueAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, IReadOnlyCollection<NewWork> items, CancellationToken cancellationToken)
    {
        if (items.Count == 0)
        {
            return 0;
        }

        var now = time.GetUtcNow();
        var complete = items.Select(i => Complete(i, now)).ToArray();
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            InsertSql,
            new
            {
                kinds = complete.Select(i => i.Kind).ToArray(),
                keys = complete.Select(i => i.Key).ToArray(),
                partitions = complete.Select(i => i.PartitionKey).ToArray(),
                payloads = complete.Select(i => i.Payload).ToArray(),
                maxAttempts = complete.Select(i => i.MaxAttempts!.Value).ToArray(),
                runAts = complete.Select(i => i.RunAt!.Value.UtcDateTime).ToArray(),
                traces = complete.Select(i => i.TraceParent).ToArray(),
                createdAts = complete.Select(_ => now.UtcDateTime).ToArray(),
            },
            transaction,
            cancellationToken: cancellationToken));
        if (inserted > 0)
        {
            signal.Notify();
        }

        return inserted;
    }

    /// <summary>
    /// The insert of one item as a data-modifying CTE of the caller's own statement, made only when the statement's CTE
    /// <paramref name="whenRowsIn"/> has a row: the work then exists exactly when the caller's row does, with no round
    /// trip of its own. Give the statement <see cref="ParametersFor"/> (with the caller's parameters added to it) and call
    /// <see cref="NotifyAdded"/> once it committed.
    /// </summary>
    public static string InsertWhenSql(string whenRowsIn) =>
        $"""
        INSERT INTO work_items (kind, key, partition_key, payload, max_attempts, run_at, traceparent, created_at)
        SELECT @workKind, @workKey, @workPartition, @workPayload, @workMaxAttempts, @workRunAt, @workTrace, @workCreatedAt
        WHERE EXISTS (SELECT 1 FROM {whenRowsIn})
        ON CONFLICT (key) DO NOTHING
        """;

    /// <summary>The parameters of <see cref="InsertWhenSql"/> for <paramref name="item"/>.</summary>
    public DynamicParameters ParametersFor(NewWork item)
    {
        var now = time.GetUtcNow();
        var complete = Complete(item, now);
        var parameters = new DynamicParameters();
        parameters.AddDynamicParams(new
        {
            workKind = complete.Kind,
            workKey = complete.Key,
            workPartition = complete.PartitionKey,
            workPayload = complete.Payload,
            workMaxAttempts = complete.MaxAttempts!.Value,
            workRunAt = complete.RunAt!.Value.UtcDateTime,
            workTrace = complete.TraceParent,
            workCreatedAt = now.UtcDateTime,
        });
        return parameters;
    }

    /// <summary>The item with its defaults filled in: the attempts of its kind's policy, due now, the current trace.</summary>
    private NewWork Complete(NewWork item, DateTimeOffset now) => item with
    {
        MaxAttempts = item.MaxAttempts ?? options.Value.PolicyFor(item.Kind).MaxAttempts,
        RunAt = item.RunAt ?? now,
        TraceParent = item.TraceParent ?? Activity.Current?.Id,
    };

    /// <summary>The attempts an item of <paramref name="kind"/> gets, by its policy (for callers that insert work with SQL of their own).</summary>
    public int MaxAttemptsOf(string kind) => options.Value.PolicyFor(kind).MaxAttempts;

    /// <summary>Wakes this replica's runner after work was inserted (and committed) by SQL of the caller's own.</summary>
    public void NotifyAdded() => signal.NotifyCommitted();

    public Task<int> EnqueueAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, NewWork item, CancellationToken cancellationToken) =>
        EnqueueAsync(connection, transaction, [item], cancellationToken);

    /// <summary>Adds the items in a transaction of their own.</summary>
    public async Task<int> EnqueueAsync(IReadOnlyCollection<NewWork> items, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await EnqueueAsync(connection, null, items, cancellationToken);
    }

    public Task<int> EnqueueAsync(NewWork item, CancellationToken cancellationToken) => EnqueueAsync([item], cancellationToken);

    public async Task<WorkItemView?> FindAsync(string key, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<WorkItemView>(new CommandDefinition(
            $"SELECT {ViewColumns} FROM work_items WHERE key = @key", new { key }, cancellationToken: cancellationToken));
    }

    /// <summary>Dead-lettered items, oldest first; <paramref name="kindPrefix"/> narrows to a family ("event:", "webhook:stripe").</summary>
    public async Task<IReadOnlyList<WorkItemView>> ListDeadAsync(string? kindPrefix, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<WorkItemView>(new CommandDefinition(
            $"""
            SELECT {ViewColumns} FROM work_items
            WHERE status = 'dead' AND (@prefix IS NULL OR starts_with(kind, @prefix))
            ORDER BY finished_at, id LIMIT @limit
            """,
            new { prefix = kindPrefix, limit }, cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>Puts dead items back with fresh attempts: all of a family, or the given ids.</summary>
    public async Task<int> ReplayAsync(string? kindPrefix, IReadOnlyCollection<long>? ids, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var replayed = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE work_items SET status = 'pending', attempts = 0, run_at = @now, last_error = NULL, finished_at = NULL,
                                  lease_owner = NULL, lease_until = NULL
            WHERE status = 'dead' AND (@prefix IS NULL OR starts_with(kind, @prefix)) AND (@all OR id = ANY(@ids))
            """,
            new { now = time.GetUtcNow(), prefix = kindPrefix, all = ids is null || ids.Count == 0, ids = ids?.ToArray() ?? [] },
            cancellationToken: cancellationToken));
        signal.NotifyCommitted();
        return replayed;
    }

    public async Task<IReadOnlyList<WorkKindStats>> StatsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return (await connection.QueryAsync<WorkKindStats>(new CommandDefinition(
            """
            SELECT kind,
                   count(*) FILTER (WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < @now)) AS pending,
                   count(*) FILTER (WHERE status = 'pending' AND lease_until >= @now) AS running,
                   count(*) FILTER (WHERE status = 'done') AS done,
                   count(*) FILTER (WHERE status = 'ignored') AS ignored,
                   count(*) FILTER (WHERE status = 'dead') AS dead,
                   COALESCE(EXTRACT(EPOCH FROM (@now - min(run_at) FILTER (WHERE status = 'pending' AND run_at <= @now))), 0)::float8 AS oldestdueseconds
            FROM work_items GROUP BY kind ORDER BY kind
            """,
            new { now = time.GetUtcNow() }, cancellationToken: cancellationToken))).ToList();
    }

    internal const string ViewColumns =
        "id, kind, key, status, attempts, max_attempts AS maxattempts, run_at AS runat, last_error AS lasterror, created_at AS createdat, finished_at AS finishedat";
}

/// <summary>
/// Wakes the runner when work was enqueued or a slot freed, so nothing waits for the next poll: <see cref="WriteSignal.Notify"/>
/// from an enqueue inside the caller's transaction, <see cref="WriteSignal.NotifyCommitted"/> for work already committed.
/// </summary>
public sealed class WorkSignal : WriteSignal;
