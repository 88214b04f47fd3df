using Amazon.S3;
using Dapper;
using Npgsql;

namespace Sunaiva.Media.Files;

/// <summary>
/// Aborts multipart uploads left in <c>file_uploads</c> past their expiry: streaming uploads orphaned by a crash of
/// the service, and resumable uploads never completed; a put's object (kind <c>put</c>) is only deleted. The object is
/// deleted too in case it was completed but its file row never committed (a crash between the two); an object that
/// belongs to a file row is never touched.
/// </summary>
public sealed partial class UploadSweeper(NpgsqlDataSource dataSource, IAmazonS3 s3, TimeProvider time, ILogger<UploadSweeper> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SweepAsync(stoppingToken);
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

    private sealed record Orphan(string Id, string StorageUploadId, string ObjectKey, string Kind, bool HasFile);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Orphaned upload {UploadId} could not be removed ({ExceptionType}); retrying next round")]
    private static partial void LogOrphanFailed(ILogger logger, string uploadId, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping orphaned uploads failed ({ExceptionType}); retrying next round")]
    private static partial void LogSweepFailed(ILogger logger, string exceptionType);
}
