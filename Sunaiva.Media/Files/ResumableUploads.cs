using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Sunaiva.Media.Files;

/// <summary>Starts a resumable upload: the file's name, exact size and (optional) claimed type.</summary>
public sealed record ResumableUploadRequest(string Name, long SizeBytes, string? ContentType);

/// <summary>The presigned URL of one part: PUT the part's bytes there and keep the ETag header of the answer.</summary>
public sealed record PartUrl(int PartNumber, string Url);

public sealed record ResumableUpload(string UploadId, int PartSizeBytes, IReadOnlyList<PartUrl> Parts, DateTimeOffset ExpiresAt);

/// <summary>A part the client sent: its number and the ETag storage answered.</summary>
public sealed record UploadedPart(int PartNumber, string ETag);

public sealed record CompleteUploadRequest(IReadOnlyList<UploadedPart> Parts);

/// <summary>
/// Large files over flaky networks: S3 multipart upload with presigned part URLs. The client PUTs each part straight to
/// storage (retrying any part, in any order, until the upload expires), then asks to complete; the service joins the
/// parts and only then trusts nothing: it streams the object back once to check its size, type (by bytes) and hash,
/// and deletes it if any check fails. Chosen over tus because storage does the resumable part itself (no bytes through
/// the service, no tus server library served here) and any S3 client library can drive it.
/// </summary>
public sealed class ResumableUploads(NpgsqlDataSource dataSource, IAmazonS3 s3, FileIngestion ingestion, IOptions<FileVaultOptions> options, TimeProvider time)
{
    public async Task<ResumableUpload> StartAsync(string userId, ResumableUploadRequest request, string? idempotencyKey, CancellationToken ct)
    {
        var o = options.Value;
        var id = $"file_{Guid.CreateVersion7():N}";
        var key = FileVault.ObjectKey(userId, id);
        var multipart = await MultipartObject.StartAsync(s3, Extensions.FilesBucket, key, "application/octet-stream", ct);
        var expires = time.GetUtcNow() + o.ResumableUploadLifetime;
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO file_uploads (id, user_id, storage_upload_id, object_key, kind, name, declared_type, size_bytes, part_size, idempotency_key, expires_at, created_at)
                VALUES (@id, @userId, @uploadId, @key, 'resumable', @name, @type, @size, @partSize, @idempotencyKey, @expires, @now)
                """,
                new { id, userId, uploadId = multipart.UploadId, key, name = FileNames.Clean(request.Name), type = request.ContentType, size = request.SizeBytes, partSize = o.PartSizeBytes, idempotencyKey, expires, now = time.GetUtcNow() },
                cancellationToken: ct));
        }

        var count = (int)Math.Max(1, (request.SizeBytes + o.PartSizeBytes - 1) / o.PartSizeBytes);
        var parts = Enumerable.Range(1, count).Select(n => new PartUrl(n, s3.GetPreSignedURL(new GetPreSignedUrlRequest
        {
            BucketName = Extensions.FilesBucket,
            Key = key,
            Verb = HttpVerb.PUT,
            UploadId = multipart.UploadId,
            PartNumber = n,
            Expires = expires.UtcDateTime,
            Protocol = s3.Config.ServiceURL?.StartsWith("https", StringComparison.OrdinalIgnoreCase) == false ? Protocol.HTTP : Protocol.HTTPS,
        }))).ToList();
        return new ResumableUpload(id, o.PartSizeBytes, parts, expires);
    }

    /// <summary>Joins the parts and verifies the object; null when no such upload of this user is open.</summary>
    public async Task<IngestResult?> CompleteAsync(string userId, string uploadId, IReadOnlyList<UploadedPart> parts, CancellationToken ct)
    {
        Pending? pending;
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        {
            pending = await connection.QuerySingleOrDefaultAsync<Pending>(new CommandDefinition(
                """
                SELECT storage_upload_id AS storageuploadid, object_key AS objectkey, name, declared_type AS declaredtype, size_bytes AS sizebytes, idempotency_key AS idempotencykey
                FROM file_uploads WHERE id = @uploadId AND user_id = @userId AND kind = 'resumable' AND expires_at > @now
                """,
                new { uploadId, userId, now = time.GetUtcNow() }, cancellationToken: ct));
        }

        if (pending is null)
        {
            return null;
        }

        await MultipartObject.CompleteAsync(s3, Extensions.FilesBucket, pending.ObjectKey, pending.StorageUploadId, parts.Select(p => new PartETag(p.PartNumber, p.ETag)), ct);
        var verdict = await VerifyAsync(userId, pending, ct);
        if (verdict.Status != IngestStatus.Created)
        {
            await s3.DeleteObjectAsync(Extensions.FilesBucket, pending.ObjectKey, CancellationToken.None);
            await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM file_uploads WHERE id = @uploadId", new { uploadId }));
            return verdict;
        }

        var request = new FileIngest(userId, pending.Name, "upload", null, pending.DeclaredType, pending.IdempotencyKey);
        return await ingestion.RecordAsync(request, uploadId, pending.Name, verdict.Reason!, pending.SizeBytes, verdict.File!.Sha256, pending.ObjectKey, uploadId, null, ct);
    }

    /// <summary>Reads the joined object once: size, type by its first bytes, SHA-256, duplicates. Reason carries the type when accepted.</summary>
    private async Task<IngestResult> VerifyAsync(string userId, Pending pending, CancellationToken ct)
    {
        var o = options.Value;
        using var response = await s3.GetObjectAsync(Extensions.FilesBucket, pending.ObjectKey, ct);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var head = new byte[1024 * 1024];
        var headLength = await response.ResponseStream.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct);
        hash.AppendData(head, 0, headLength);
        long total = headLength;
        var buffer = new byte[81920];
        int read;
        while ((read = await response.ResponseStream.ReadAsync(buffer, ct)) > 0)
        {
            total += read;
            hash.AppendData(buffer, 0, read);
            if (total > o.MaxUploadBytes)
            {
                return new IngestResult(IngestStatus.TooLarge, null);
            }
        }

        if (total != pending.SizeBytes || total > o.MaxUploadBytes)
        {
            return new IngestResult(total > o.MaxUploadBytes ? IngestStatus.TooLarge : IngestStatus.Invalid, null, $"the parts hold {total} bytes, not the announced {pending.SizeBytes}");
        }

        var sniff = FileTypes.Sniff(head.AsSpan(0, headLength), headLength < head.Length, pending.DeclaredType, pending.Name);
        if (sniff.ContentType is null)
        {
            return new IngestResult(IngestStatus.Refused, null, sniff.Refusal);
        }

        var sha = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (await FileVault.FindByShaAsync(dataSource, userId, "upload", sha, ct) is { } same)
        {
            return new IngestResult(IngestStatus.Duplicate, same);
        }

        return new IngestResult(IngestStatus.Created, new StoredFile(string.Empty, pending.Name, sniff.ContentType, total, sha, "upload", null, "pending", default), sniff.ContentType);
    }

    private sealed record Pending(string StorageUploadId, string ObjectKey, string Name, string? DeclaredType, long SizeBytes, string? IdempotencyKey);
}
