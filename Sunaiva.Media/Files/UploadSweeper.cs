using Amazon.S3;
using Amazon.S3.Model;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.ServiceDefaults.Storage;

namespace Sunaiva.Media.Files;

/// <summary>
/// Aborts multipart uploads left in <c>file_uploads</c> past their expiry: streaming uploads orphaned by a crash of
/// the service, and resumable uploads never completed; a put's object (kind <c>put</c>) is only deleted. The object is
/// deleted too in case it was completed but its file row never committed (a crash between the two); an object that
/// belongs to a file row is never touched. Every <see cref="FileVaultOptions.OrphanScanInterval"/> it also lists storage
/// for objects nothing owns (<see cref="ScanStorageAsync"/>).
/// </summary>
public sealed partial class UploadSweeper(
    NpgsqlDataSource dataSource, IAmazonS3 s3, IOptions<FileVaultOptions> options, TimeProvider time, ILogger<UploadSweeper> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The storage scan keeps the real clock, as storage's modification times do (the service's clock is business time,
        // which a test moves at will).
        var nextScan = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SweepAsync(stoppingToken);
                if (TimeProvider.System.GetUtcNow() >= nextScan)
                {
                    await ScanStorageAsync(stoppingToken);
                    nextScan = TimeProvider.System.GetUtcNow() + options.Value.OrphanScanInterval;
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or AmazonS3Exception or Amazon.Runtime.AmazonClientException or HttpRequestException or IOException)
            {
                LogSweepFailed(logger, ex.GetType().Name);
            }

            try
            {
                await Task.Delay(Interval, time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>One pass; returns how many uploads were removed.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        IReadOnlyList<Orphan> due;
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        {
            due = (await connection.QueryAsync<Orphan>(new CommandDefinition(
                """
                SELECT u.id, u.storage_upload_id AS storageuploadid, u.object_key AS objectkey, u.kind,
                       EXISTS (SELECT 1 FROM files f WHERE f.object_key = u.object_key) AS hasfile
                FROM file_uploads u WHERE u.expires_at <= @now ORDER BY u.expires_at LIMIT 100
                """,
                new { now = time.GetUtcNow() }, cancellationToken: ct))).ToList();
        }

        var removed = 0;
        foreach (var orphan in due)
        {
            if (!orphan.HasFile)
            {
                try
                {
                    if (orphan.Kind != "put")
                    {
                        await MultipartObject.AbortAsync(s3, Extensions.FilesBucket, orphan.ObjectKey, orphan.StorageUploadId, null);
                    }

                    await s3.DeleteObjectAsync(Extensions.FilesBucket, orphan.ObjectKey, ct);
                }
                catch (Exception ex) when (FileVault.IsStorageFailure(ex))
                {
                    // This upload's alone (storage refused it, or another sweeper is removing it at the same moment): its row
                    // stays for the next pass, and the others are swept now.
                    LogOrphanFailed(logger, orphan.Id, ex.GetType().Name);
                    continue;
                }
            }

            await using var connection = await dataSource.OpenConnectionAsync(ct);
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM file_uploads WHERE id = @Id", new { orphan.Id }, cancellationToken: ct));
            removed++;
        }

        return removed;
    }

    /// <summary>
    /// Deletes the objects under the files' prefix that neither a file row (by the file id that ends their key,
    /// tombstones included) nor an upload row owns, once <see cref="FileVaultOptions.UnownedObjectAge"/> old by storage's
    /// modification time and the real clock. A file under a part is one put with no upload row (so that an upload stays
    /// one statement), and a crash between that put and the file's row leaves its object behind; so does the part of a put
    /// broken off by a crash that a store keeps (s3rver). Only the objects of a user this database owns at least one
    /// object of are touched: a database that is not this bucket's (a wrong connection string, a restored backup, tests
    /// sharing a store) knows none of its users, and deletes nothing. Listed a page (1,000 keys) at a time and checked a
    /// batch of users' objects per query; no transaction is open while storage is called. Returns how many objects were
    /// deleted. <paramref name="pageSize"/> is storage's page and the batch of keys checked per query.
    /// </summary>
    public async Task<int> ScanStorageAsync(CancellationToken ct, int pageSize = 1000)
    {
        var cutoff = TimeProvider.System.GetUtcNow() - options.Value.UnownedObjectAge;
        var removed = 0;
        // Keys come in order, so one user's objects are consecutive: whole users are gathered into a batch.
        var batch = new List<List<S3Object>>();
        var batchKeys = 0;
        List<S3Object>? user = null;
        await foreach (var page in s3.ListPagesAsync(Extensions.FilesBucket, FileVault.KeyPrefix, pageSize, ct))
        {
            foreach (var item in page)
            {
                if (user is null || !FileVault.OwnerPart(user[0].Key).SequenceEqual(FileVault.OwnerPart(item.Key)))
                {
                    if (batchKeys >= pageSize)
                    {
                        removed += await SweepUsersAsync(batch, cutoff, ct);
                        batch.Clear();
                        batchKeys = 0;
                    }

                    user = [];
                    batch.Add(user);
                }

                user.Add(item);
                batchKeys++;
            }
        }

        removed += await SweepUsersAsync(batch, cutoff, ct);
        if (removed > 0)
        {
            LogOrphanObjectsRemoved(logger, removed);
        }

        return removed;
    }

    private async Task<int> SweepUsersAsync(List<List<S3Object>> users, DateTimeOffset cutoff, CancellationToken ct)
    {
        if (users.Count == 0)
        {
            return 0;
        }

        var keys = users.SelectMany(u => u).Select(o => o.Key).ToArray();
        HashSet<string> owned;
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        {
            owned = (await connection.QueryAsync<string>(new CommandDefinition(
                """
                SELECT t.key FROM unnest(@keys::text[], @ids::text[]) AS t(key, id)
                WHERE EXISTS (SELECT 1 FROM files f WHERE f.id = t.id)
                   OR EXISTS (SELECT 1 FROM file_uploads u WHERE u.object_key = t.key)
                """,
                new { keys, ids = keys.Select(FileVault.FileIdOf).ToArray() }, cancellationToken: ct))).ToHashSet(StringComparer.Ordinal);
        }

        var removed = 0;
        foreach (var objects in users.Where(u => u.Any(o => owned.Contains(o.Key))))
        {
            foreach (var item in objects.Where(o => !owned.Contains(o.Key) && o.LastModified is { } at && AsUtc(at) <= cutoff))
            {
                try
                {
                    await s3.DeleteObjectAsync(Extensions.FilesBucket, item.Key, ct);
                    removed++;
                }
                catch (Exception ex) when (FileVault.IsStorageFailure(ex))
                {
                    // This object alone; the next scan finds it again.
                    LogOrphanObjectFailed(logger, ex.GetType().Name);
                }
            }
        }

        return removed;
    }

    // Storage's times are UTC on the wire ("...Z"); a time handed back without its kind is taken as that, never as local.
    private static DateTimeOffset AsUtc(DateTime at) =>
        new(at.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(at, DateTimeKind.Utc) : at.ToUniversalTime());

    private sealed record Orphan(string Id, string StorageUploadId, string ObjectKey, string Kind, bool HasFile);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Orphaned upload {UploadId} could not be removed ({ExceptionType}); retrying next round")]
    private static partial void LogOrphanFailed(ILogger logger, string uploadId, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Removed {Count} objects no file or upload owned (left by a crash between a put and its row)")]
    private static partial void LogOrphanObjectsRemoved(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "An object no file owns could not be removed ({ExceptionType}); the next scan retries it")]
    private static partial void LogOrphanObjectFailed(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping orphaned uploads failed ({ExceptionType}); retrying next round")]
    private static partial void LogSweepFailed(ILogger logger, string exceptionType);
}
