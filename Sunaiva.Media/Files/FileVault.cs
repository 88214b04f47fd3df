using System.Security.Cryptography;
using Amazon.S3;
using Dapper;
using Npgsql;
using Sunaiva.ServiceDefaults.Storage;

namespace Sunaiva.Media.Files;

/// <summary>What an upload did: stored a new file, found the same upload again, or met a key used for other bytes.</summary>
public sealed record SaveOutcome(StoredFile File, bool Created, bool KeyReused);

public sealed record StoredFile(string Id, string Name, string ContentType, long SizeBytes, string Sha256, string Source, DateTime CreatedAt);

/// <summary>Files of one user: bytes in object storage under the user's prefix, metadata in Postgres.</summary>
public sealed class FileVault(NpgsqlDataSource dataSource, IAmazonS3 s3, FileCleanupSignal cleanupSignal, TimeProvider time)
{
    private const string Columns = "id, name, content_type AS contenttype, size_bytes AS sizebytes, sha256, source, created_at AS createdat";

    public async Task<SaveOutcome> SaveAsync(string userId, string name, string contentType, Stream content, string? idempotencyKey, CancellationToken ct)
    {
        // Buffer to hash and to give the store a known length (s3rver needs unchunked puts).
        using var buffer = new MemoryStream();
        await content.CopyToAsync(buffer, ct);
        buffer.Position = 0;
        var sha = Convert.ToHexStringLower(await SHA256.HashDataAsync(buffer, ct));
        buffer.Position = 0;

        if (idempotencyKey is not null && await FindByIdempotencyKeyAsync(userId, idempotencyKey, ct) is { } earlier)
        {
            return Replay(earlier, sha);
        }

        var id = $"file_{Guid.CreateVersion7():N}";
        var key = ObjectKey(userId, id);
        var put = StorageExtensions.NewPut(Extensions.FilesBucket, key);
        put.InputStream = buffer;
        put.ContentType = contentType;
        put.AutoCloseStream = false;
        await s3.PutObjectAsync(put, ct);

        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            var file = await connection.QuerySingleOrDefaultAsync<StoredFile>(new CommandDefinition(
                $"""
                INSERT INTO files (id, user_id, name, content_type, size_bytes, sha256, object_key, source, idempotency_key, created_at)
                VALUES (@id, @userId, @name, @contentType, @size, @sha, @key, 'upload', @idempotencyKey, @at)
                ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
                RETURNING {Columns}
                """,
                new { id, userId, name, contentType, size = buffer.Length, sha, key, idempotencyKey, at = time.GetUtcNow() },
                cancellationToken: ct));
            if (file is null)
            {
                // A concurrent retry with the same key won; keep its file, drop these bytes.
                await s3.DeleteObjectAsync(Extensions.FilesBucket, key, CancellationToken.None);
                return Replay((await FindByIdempotencyKeyAsync(userId, idempotencyKey!, ct))!, sha);
            }

            return new SaveOutcome(file, Created: true, KeyReused: false);
        }
        catch
        {
            await s3.DeleteObjectAsync(Extensions.FilesBucket, key, CancellationToken.None);
            throw;
        }
    }

    // The same key with the same bytes is a retry; with other bytes it is a client bug to report, not to hide.
    private static SaveOutcome Replay(StoredFile earlier, string sha) => new(earlier, Created: false, KeyReused: earlier.Sha256 != sha);

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

    public async Task<Stream?> OpenAsync(string userId, string id, CancellationToken ct)
    {
        if (await GetAsync(userId, id, ct) is null)
        {
            return null;
        }

        var response = await s3.GetObjectAsync(Extensions.FilesBucket, ObjectKey(userId, id), ct);
        return response.ResponseStream;
    }

    /// <summary>
    /// Tombstones the file: from this commit on it is gone for the user, and <see cref="FileCleanup"/> removes
    /// its object and then the row, retrying while storage is down. The idempotency key is released with it.
    /// </summary>
    public async Task<bool> DeleteAsync(string userId, string id, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var deleted = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE files SET deleted_at = @at, cleanup_after = @at, idempotency_key = NULL
            WHERE user_id = @userId AND id = @id AND deleted_at IS NULL
            """,
            new { userId, id, at = time.GetUtcNow() }, cancellationToken: ct));
        if (deleted == 1)
        {
            cleanupSignal.Notify();
        }

        return deleted == 1;
    }

    private async Task<StoredFile?> FindByIdempotencyKeyAsync(string userId, string idempotencyKey, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<StoredFile>(new CommandDefinition(
            $"SELECT {Columns} FROM files WHERE user_id = @userId AND idempotency_key = @idempotencyKey",
            new { userId, idempotencyKey }, cancellationToken: ct));
    }

    // The user id is hashed so object keys carry no personal identifier.
    internal static string ObjectKey(string userId, string fileId) =>
        $"users/{Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(userId)))[..32]}/{fileId}";
}
