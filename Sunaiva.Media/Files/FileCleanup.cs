using Amazon.S3;
using Dapper;
using Npgsql;

namespace Sunaiva.Media.Files;

/// <summary>Wakes <see cref="FileCleanup"/> when a file was just deleted, so a healthy store empties at once.</summary>
public sealed class FileCleanupSignal
{
    private readonly System.Threading.Channels.Channel<bool> _signal =
        System.Threading.Channels.Channel.CreateBounded<bool>(new System.Threading.Channels.BoundedChannelOptions(1) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite });

    public void Notify() => _signal.Writer.TryWrite(true);

    /// <summary>Returns when notified or after <paramref name="timeout"/>, whichever is first.</summary>
    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        using var timer = new CancellationTokenSource(timeout, time);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct, timer.Token);
        try
        {
            await _signal.Reader.WaitToReadAsync(wait.Token);
            _signal.Reader.TryRead(out _);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
        }
    }
}

/// <summary>
/// Removes the objects of tombstoned files, then their rows. A storage (or database) outage only postpones a
/// tombstone: each failure pushes it back (1 s, 2 s, 4 s ... at most 5 minutes) and it is tried again until the
/// object is gone. Deleting an object that is already gone succeeds, so a repeat after a crash is harmless.
/// </summary>
public sealed partial class FileCleanup(
    NpgsqlDataSource dataSource,
    IAmazonS3 s3,
    FileCleanupSignal signal,
    TimeProvider time,
    ILogger<FileCleanup> logger) : BackgroundService
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MaxBackOff = TimeSpan.FromMinutes(5);
    private const int BatchSize = 50;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (await RunOnceAsync(stoppingToken) == BatchSize)
                {
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
            {
                // The database is down: the tombstones wait in it; try again next round.
                LogDatabaseUnavailable(logger, ex.GetType().Name);
            }

            try
            {
                await signal.WaitAsync(PollInterval, time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>One pass over the tombstones that are due; returns how many it looked at.</summary>
    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        IReadOnlyList<Tombstone> due;
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        {
            due = (await connection.QueryAsync<Tombstone>(new CommandDefinition(
                """
                SELECT id, object_key AS objectkey, cleanup_attempts AS attempts FROM files
                WHERE deleted_at IS NOT NULL AND cleanup_after <= @now
                ORDER BY cleanup_after LIMIT @limit
                """,
                new { now = time.GetUtcNow(), limit = BatchSize }, cancellationToken: ct))).ToList();
        }

        foreach (var tombstone in due)
        {
            // No transaction is open while storage is called.
            var removed = await TryRemoveObjectAsync(tombstone, ct);
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            if (removed)
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "DELETE FROM files WHERE id = @Id AND deleted_at IS NOT NULL", new { tombstone.Id }, cancellationToken: ct));
            }
            else
            {
                var delay = BackOff(tombstone.Attempts + 1);
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE files SET cleanup_attempts = cleanup_attempts + 1, cleanup_after = @after WHERE id = @Id AND deleted_at IS NOT NULL",
                    new { tombstone.Id, after = time.GetUtcNow() + delay }, cancellationToken: ct));
            }
        }

        return due.Count;
    }

    /// <summary>1 s after the first failure, doubling, at most 5 minutes.</summary>
    public static TimeSpan BackOff(int attempts) =>
        TimeSpan.FromSeconds(Math.Min(Math.Pow(2, Math.Min(attempts - 1, 20)), MaxBackOff.TotalSeconds));

    private async Task<bool> TryRemoveObjectAsync(Tombstone tombstone, CancellationToken ct)
    {
        try
        {
            await s3.DeleteObjectAsync(Extensions.FilesBucket, tombstone.ObjectKey, ct);
            return true;
        }
        catch (Exception ex) when (FileVault.IsStorageFailure(ex))
        {
            LogStorageUnavailable(logger, tombstone.Id, tombstone.Attempts + 1, ex.GetType().Name);
            return false;
        }
    }

    private sealed record Tombstone(string Id, string ObjectKey, int Attempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Object of deleted file {FileId} not removed (attempt {Attempt}, {ExceptionType}); retrying later")]
    private static partial void LogStorageUnavailable(ILogger logger, string fileId, int attempt, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "File cleanup cannot reach the database ({ExceptionType}); retrying later")]
    private static partial void LogDatabaseUnavailable(ILogger logger, string exceptionType);
}
