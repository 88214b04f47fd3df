using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Dapper;
using Npgsql;
using Sunaiva.Media.Search;

namespace Sunaiva.Media.Files;

/// <summary>A file as its owner sees it. <c>TextStatus</c>: pending, indexed, none (images), awaiting_transcription (audio), failed.</summary>
public sealed record StoredFile(string Id, string Name, string ContentType, long SizeBytes, string Sha256, string Source, string? SourceId, string TextStatus, DateTime CreatedAt);

/// <summary>One read of a file: by whom and through what (download, range, mcp.read_file).</summary>
public sealed record FileAccessEntry(string Action, string? Detail, DateTime At);

/// <summary>A range of a file's extracted text, the text's total length, and whether extraction stopped at its limit.</summary>
public sealed record TextSlice(string Text, int Total, bool Truncated);

/// <summary>An open object (or a byte range of it) with its total length.</summary>
public sealed record FileContent(Stream Stream, long Length, long TotalLength, long? From);

/// <summary>Files of one user: bytes in object storage under the user's hashed prefix, metadata in Postgres. Every query names the user.</summary>
public sealed partial class FileVault(NpgsqlDataSource dataSource, IAmazonS3 s3, FileCleanupSignal cleanupSignal, TimeProvider time, ILogger<FileVault> logger)
{
    internal const string Columns =
        "id, name, content_type AS contenttype, size_bytes AS sizebytes, sha256, source, source_id AS sourceid, text_status AS textstatus, created_at AS createdat";

    /// <summary>Newest first; <paramref name="before"/> (a file id of this user) continues after that file.</summary>
    public async Task<IReadOnlyList<StoredFile>> ListAsync(string userId, int limit, string? before, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return (await connection.QueryAsync<StoredFile>(new CommandDefinition(
            $"""
            SELECT {Columns} FROM files
            WHERE user_id = @userId AND deleted_at IS NULL
              AND (@before::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM files WHERE user_id = @userId AND id = @before))
            ORDER BY created_at DESC, id DESC LIMIT @limit
            """,
            new { userId, limit, before }, cancellationToken: ct))).ToList();
    }

    public async Task<StoredFile?> GetAsync(string userId, string id, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<StoredFile>(new CommandDefinition(
            $"SELECT {Columns} FROM files WHERE user_id = @userId AND id = @id AND deleted_at IS NULL", new { userId, id }, cancellationToken: ct));
    }

    /// <summary>
    /// Opens the content, or the bytes <paramref name="from"/>..<paramref name="to"/> (inclusive) of it; null when storage has
    /// no object for the file (lost or removed behind the vault's back: the row stays, and the caller answers 404, not 500).
    /// </summary>
    public async Task<FileContent?> OpenAsync(string userId, StoredFile file, long? from, long? to, CancellationToken ct)
    {
        var request = new GetObjectRequest { BucketName = Extensions.FilesBucket, Key = ObjectKey(userId, file.Id) };
        if (from is { } start)
        {
            request.ByteRange = new ByteRange(start, to ?? file.SizeBytes - 1);
        }

        GetObjectResponse response;
        try
        {
            response = await s3.GetObjectAsync(request, ct);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            LogContentMissing(logger, file.Id);
            return null;
        }

        var length = from is { } f ? (to ?? file.SizeBytes - 1) - f + 1 : file.SizeBytes;
        return new FileContent(response.ResponseStream, length, file.SizeBytes, from);
    }

    /// <summary>
    /// Tombstones the file: from this commit on it is gone for the user (its text and index entries with it), and
    /// <see cref="FileCleanup"/> removes its object and then the row, retrying while storage is down.
    /// </summary>
    public async Task<bool> DeleteAsync(string userId, string id, CancellationToken ct)
    {
        int deleted;
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            deleted = await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE files SET deleted_at = @at, cleanup_after = @at, idempotency_key = NULL, search_vector = NULL, metadata = NULL
                WHERE user_id = @userId AND id = @id AND deleted_at IS NULL
                """,
                new { userId, id, at = time.GetUtcNow() }, tx, cancellationToken: ct));
            if (deleted == 1)
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    $"DELETE FROM file_texts WHERE file_id = @id AND user_id = @userId; {SearchCache.BumpSql}", new { userId, id }, tx, cancellationToken: ct));
            }

            await tx.CommitAsync(ct);
        }

        if (deleted == 1)
        {
            cleanupSignal.Notify();
        }

        return deleted == 1;
    }

    /// <summary>Records a read of the file by its owner (content downloads, ranges, MCP reads).</summary>
    public async Task RecordAccessAsync(string userId, string fileId, string action, string? detail, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO file_access_log (file_id, user_id, action, detail, at)
            SELECT id, user_id, @action, @detail, @at FROM files WHERE id = @fileId AND user_id = @userId
            """,
            new { userId, fileId, action, detail, at = time.GetUtcNow() }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<FileAccessEntry>> AccessLogAsync(string userId, string fileId, int limit, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return (await connection.QueryAsync<FileAccessEntry>(new CommandDefinition(
            "SELECT action, detail, at FROM file_access_log WHERE file_id = @fileId AND user_id = @userId ORDER BY at DESC, id DESC LIMIT @limit",
            new { userId, fileId, limit }, cancellationToken: ct))).ToList();
    }

    /// <summary>The extracted text from <paramref name="offset"/>, at most <paramref name="length"/> characters, and the total.</summary>
    public async Task<TextSlice?> ReadTextAsync(string userId, string fileId, int offset, int length, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<TextSlice>(new CommandDefinition(
            """
            SELECT substr(t.body, @offset + 1, @length) AS text, length(t.body) AS total, t.truncated
            FROM file_texts t JOIN files f ON f.id = t.file_id
            WHERE t.file_id = @fileId AND t.user_id = @userId AND f.user_id = @userId AND f.deleted_at IS NULL
            """,
            new { userId, fileId, offset, length }, cancellationToken: ct));
        return row;
    }

    internal static async Task<StoredFile?> FindByIdempotencyKeyAsync(NpgsqlDataSource dataSource, string userId, string idempotencyKey, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<StoredFile>(new CommandDefinition(
            $"SELECT {Columns} FROM files WHERE user_id = @userId AND idempotency_key = @idempotencyKey",
            new { userId, idempotencyKey }, cancellationToken: ct));
    }

    internal static async Task<StoredFile?> FindByShaAsync(NpgsqlDataSource dataSource, string userId, string source, string sha, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<StoredFile>(new CommandDefinition(
            $"SELECT {Columns} FROM files WHERE user_id = @userId AND source = @source AND sha256 = @sha AND deleted_at IS NULL",
            new { userId, source, sha }, cancellationToken: ct));
    }

    // The user id is hashed so object keys carry no personal identifier.
    /// <summary>Storage did not answer or failed (a cleanup that meets it is retried later, or left to the sweeper).</summary>
    internal static bool IsStorageFailure(Exception ex) =>
        ex is AmazonS3Exception or Amazon.Runtime.AmazonClientException or HttpRequestException or IOException or TimeoutException;

    /// <summary>Where every file's object lives: <c>users/{hashed user}/{file id}</c>.</summary>
    internal const string KeyPrefix = "users/";

    internal static string ObjectKey(string userId, string fileId) =>
        $"{KeyPrefix}{Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(userId)))[..32]}/{fileId}";

    /// <summary>The <c>users/{hashed user}/</c> part of an object key (the whole key when it has no such part).</summary>
    internal static ReadOnlySpan<char> OwnerPart(string key)
    {
        var end = key.IndexOf('/', KeyPrefix.Length);
        return end < 0 ? key : key.AsSpan(0, end + 1);
    }

    /// <summary>The file id an object key ends with.</summary>
    internal static string FileIdOf(string key) => key[(key.LastIndexOf('/') + 1)..];

    [LoggerMessage(Level = LogLevel.Error, Message = "File {FileId} has a row but storage holds no object for it")]
    private static partial void LogContentMissing(ILogger logger, string fileId);
}
