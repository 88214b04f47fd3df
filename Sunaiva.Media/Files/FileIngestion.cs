using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using Amazon.S3;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Media.Extraction;
using Sunaiva.Media.Search;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;
using Sunaiva.ServiceDefaults.Storage;

namespace Sunaiva.Media.Files;

/// <summary>
/// A file arriving from anywhere: a local upload (<c>source = "upload"</c>) or an import from a remote source such as
/// Google Drive (<c>source = "drive"</c>, <c>SourceId</c> the remote id). <c>DeclaredType</c> is the sender's claim, only
/// a hint; the bytes decide. <c>LengthHint</c> is the content's length when the sender's framing gives it away before the
/// content (a form holding the file alone: see <see cref="FormFraming"/>); also only a hint, checked against the bytes.
/// With <c>SignalsWorkItself</c> the caller wakes what follows a stored file (its extraction, or the relay for its
/// <c>file.indexed</c>: <see cref="FileIngestion.SignalBackgroundWork"/>) itself, once its answer is sent
/// (<c>POST /files</c>); were that signal lost, the work runner's and the relay's next polls find them.
/// </summary>
public sealed record FileIngest(string UserId, string Name, string Source, string? SourceId, string? DeclaredType, string? IdempotencyKey, long? LengthHint = null, bool SignalsWorkItself = false);

public enum IngestStatus
{
    /// <summary>A new file was stored.</summary>
    Created,

    /// <summary>The user already had these bytes from this source: the existing file is returned, nothing stored.</summary>
    Duplicate,

    /// <summary>The idempotency key was used before for the same bytes.</summary>
    Replayed,

    /// <summary>The idempotency key was used before for other bytes.</summary>
    KeyReused,

    /// <summary>The type is not accepted (415).</summary>
    Refused,

    /// <summary>Over the size limit (413).</summary>
    TooLarge,

    /// <summary>The upload does not match what was announced (422).</summary>
    Invalid,
}

public sealed record IngestResult(IngestStatus Status, StoredFile? File, string? Reason = null);

/// <summary>
/// The one way a file enters the vault. Streams the content to object storage in parts (at most PartsInFlight + 1 part buffers per
/// file, rented from a pool; never the whole file in memory or on disk), checks its type on the first part, hashes it
/// on the way, enforces the size limit while reading, and leaves nothing behind when it refuses or fails: the
/// multipart upload is aborted, no row is written, and an upload orphaned by a crash is swept from <c>file_uploads</c>.
/// A file whose length its form gives away goes to storage while it arrives, in one presigned PUT
/// (<see cref="PutWhileArrivingAsync"/>, <see cref="PutLargeWhileArrivingAsync"/>), instead of after its last byte.
/// The file row, its extraction work, the bump of the user's search version and the removal of the <c>file_uploads</c>
/// row commit together, in one statement.
/// </summary>
public sealed partial class FileIngestion(
    NpgsqlDataSource dataSource,
    IAmazonS3 s3,
    StreamingPut streamingPut,
    WorkQueue work,
    EventOutbox outbox,
    FileCleanupSignal cleanupSignal,
    IOptions<FileVaultOptions> options,
    TimeProvider time,
    ILogger<FileIngestion> logger)
{
    /// <summary>What is read before a file whose length is known goes to storage: enough for its type (FileTypes looks at 64 KiB at most).</summary>
    private const int HeadBytes = 64 * 1024;

    /// <summary>Enough for the signature of a media type, so that a photo or a PDF starts on its way at once.</summary>
    private const int SignatureBytes = 4 * 1024;

    /// <summary>The text status of a file whose extraction is queued.</summary>
    private const string AwaitingExtraction = "pending";

    /// <summary>The largest object one S3 PUT may create (5 GiB); a larger file goes in parts.</summary>
    private const long MaxPutBytes = 5L * 1024 * 1024 * 1024;

    private ArrayPool<byte>? _pool;

    private ArrayPool<byte> Pool => _pool ??= ArrayPool<byte>.Create(options.Value.PartSizeBytes, options.Value.MaxConcurrentUploads * (options.Value.PartsInFlight + 1));

    public async Task<IngestResult> IngestAsync(FileIngest request, Stream content, CancellationToken ct)
    {
        var o = options.Value;
        var name = FileNames.Clean(request.Name);
        var earlier = request.IdempotencyKey is null ? null : await FileVault.FindByIdempotencyKeyAsync(dataSource, request.UserId, request.IdempotencyKey, ct);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var current = Pool.Rent(o.PartSizeBytes);
        // Every buffer this upload rented (returned at the end, once no part send uses it) and the parts being sent.
        var owned = new List<byte[]>(o.PartsInFlight + 1) { current };
        var sending = new Queue<(Task Part, byte[] Buffer)>(o.PartsInFlight + 1);
        MultipartObject? multipart = null;
        string? uploadRow = null;
        Resend? resend = null;
        try
        {
            // A file whose length is known goes to storage in one put while it arrives, once its head shows an accepted type
            // (kept whole in the part buffer when it is smaller than a part); any other is read a part at a time, each part
            // sent once it is whole.
            var hinted = request.LengthHint is { } hint && hint > HeadBytes && hint <= Math.Min(o.MaxUploadBytes, MaxPutBytes) && earlier is null && request.SourceId is null;
            var length = await ReadPartAsync(content, current, 0, hinted ? SignatureBytes : o.PartSizeBytes, hash, ct);
            if (hinted && length == SignatureBytes)
            {
                IngestResult? arrived;
                if (request.LengthHint + 2 < o.PartSizeBytes)
                {
                    (arrived, length) = await PutWhileArrivingAsync(request, name, content, current, length, hash, ct);
                }
                else
                {
                    (arrived, length, resend) = await PutLargeWhileArrivingAsync(request, name, content, current, length, hash, ct);
                    content = resend?.Content ?? content;
                }

                if (arrived is not null)
                {
                    return arrived;
                }

                length += await ReadPartAsync(content, current, length, o.PartSizeBytes - length, hash, ct);
            }

            long total = length;
            if (total > o.MaxUploadBytes)
            {
                return new IngestResult(IngestStatus.TooLarge, null);
            }

            var sniff = FileTypes.Sniff(current.AsSpan(0, length), length < o.PartSizeBytes, request.DeclaredType, name);
            if (sniff.ContentType is not { } contentType)
            {
                return new IngestResult(IngestStatus.Refused, null, sniff.Refusal);
            }

            if (earlier is not null)
            {
                // A retry: hash what comes without storing it, to tell a replay from a key reused for other bytes.
                while (length > 0)
                {
                    length = await ReadPartAsync(content, current, 0, o.PartSizeBytes, hash, ct);
                    total += length;
                    if (total > o.MaxUploadBytes)
                    {
                        return new IngestResult(IngestStatus.TooLarge, null);
                    }
                }

                var sha = Convert.ToHexStringLower(hash.GetHashAndReset());
                return new IngestResult(earlier.Sha256 == sha ? IngestStatus.Replayed : IngestStatus.KeyReused, earlier);
            }

            var id = $"file_{Guid.CreateVersion7():N}";
            var key = FileVault.ObjectKey(request.UserId, id);
            if (length < o.PartSizeBytes)
            {
                // Small: one put of the buffered bytes (no multipart round trips, no file_uploads row: a put is atomic).
                // A local upload's duplicate is found by the row's unique index (user, source, sha256) when the row is
                // recorded (RecordAsync keeps the earlier file and deletes these bytes): duplicates are rare, and a separate
                // look-up beside every put cost a connection and CPU on each upload. A file of a remote source is still looked
                // up beside its put (it may replace its earlier version, which a duplicate must not).
                var sha = Convert.ToHexStringLower(hash.GetHashAndReset());
                var lookup = request.SourceId is null ? Task.FromResult<StoredFile?>(null) : FileVault.FindByShaAsync(dataSource, request.UserId, request.Source, sha, ct);
                var put = StorageExtensions.NewPut(Extensions.FilesBucket, key);
                put.InputStream = new MemoryStream(current, 0, length, writable: false);
                put.ContentType = contentType;
                try
                {
                    await s3.PutObjectAsync(put, ct);
                }
                catch
                {
                    await lookup.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    throw;
                }

                StoredFile? same;
                try
                {
                    same = await lookup;
                }
                catch
                {
                    await s3.DeleteObjectAsync(Extensions.FilesBucket, key, CancellationToken.None);
                    throw;
                }

                if (same is not null)
                {
                    await s3.DeleteObjectAsync(Extensions.FilesBucket, key, CancellationToken.None);
                    return new IngestResult(IngestStatus.Duplicate, same);
                }

                return await RecordAsync(request, id, name, contentType, total, sha, key, null, TextExtraction.ImageFromHead(current.AsSpan(0, length), wholeFile: true, contentType), ct);
            }

            // A whole part holds more of an image than its extraction reads: what it would find is known now.
            var image = TextExtraction.ImageFromHead(current.AsSpan(0, length), wholeFile: false, contentType);
            multipart = await MultipartObject.StartAsync(s3, Extensions.FilesBucket, key, contentType, ct);
            uploadRow = id;
            await RecordUploadAsync(id, request.UserId, multipart, ct);
            var partNumber = 1;
            while (length > 0)
            {
                // Send this part while the next one is read from the client, with up to PartsInFlight parts travelling
                // while it is read (each in a buffer of its own: at most PartsInFlight + 1 parts in memory per upload).
                sending.Enqueue((multipart.UploadPartAsync(partNumber, current, length, ct), current));
                byte[] buffer;
                if (sending.Count <= o.PartsInFlight)
                {
                    buffer = Pool.Rent(o.PartSizeBytes);
                    owned.Add(buffer);
                }
                else
                {
                    // The oldest part's buffer is reused once that part is stored (a failed part throws here).
                    (var oldest, buffer) = sending.Peek();
                    await oldest;
                    sending.Dequeue();
                }

                var nextLength = await ReadPartAsync(content, buffer, 0, o.PartSizeBytes, hash, ct);
                total += nextLength;
                if (total > o.MaxUploadBytes)
                {
                    await DrainAsync(sending);
                    await AbandonAsync(multipart, uploadRow);
                    multipart = null;
                    return new IngestResult(IngestStatus.TooLarge, null);
                }

                current = buffer;
                length = nextLength;
                partNumber++;
            }

            while (sending.TryPeek(out var part))
            {
                await part.Part;
                sending.Dequeue();
            }

            var digest = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (await FileVault.FindByShaAsync(dataSource, request.UserId, request.Source, digest, ct) is { } duplicate)
            {
                await AbandonAsync(multipart, uploadRow);
                multipart = null;
                return new IngestResult(IngestStatus.Duplicate, duplicate);
            }

            await multipart.CompleteAsync(ct);
            var stored = multipart;
            multipart = null;
            return await RecordAsync(request, id, name, contentType, total, digest, stored.Key, uploadRow, image, ct);
        }
        catch (Exception ex) when (multipart is not null)
        {
            // The client went away, storage failed, or the service is stopping: leave no parts behind (once no part is
            // still on its way, so none arrives after the abort).
            LogUploadAbandoned(logger, ex.GetType().Name);
            await DrainAsync(sending);
            await AbandonAsync(multipart, uploadRow);
            throw;
        }
        finally
        {
            await DrainAsync(sending);
            foreach (var buffer in owned)
            {
                Pool.Return(buffer);
            }

            if (resend is not null)
            {
                resend.Source.Dispose();
                await DiscardAsync(resend.Key, resend.UploadRow);
            }
        }
    }

    /// <summary>Waits for the parts still being sent, whatever their outcome (their failure is already being handled).</summary>
    private static async Task DrainAsync(Queue<(Task Part, byte[] Buffer)> sending)
    {
        while (sending.TryDequeue(out var part))
        {
            await part.Part.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Inserts the row and its extraction work; on a lost race (same key or same bytes) keeps the winner. When what
    /// extraction would find is already <paramref name="known"/> (an image whose header the upload held), the row is
    /// inserted extracted, with its <c>file.indexed</c> event instead of the work: no read of the object back from
    /// storage, no second write of the row (for a 1 MB photo that work cost about 4 ms of Media's CPU and 3 ms of s3rver's).
    /// </summary>
    internal async Task<IngestResult> RecordAsync(FileIngest request, string id, string name, string contentType, long size, string sha, string key, string? uploadRow, Extracted? known, CancellationToken ct)
    {
        StoredFile? file;
        string? replaced = null;
        var mayHaveReplaced = false;
        // Set just before the statement (or the commit) that makes the file durable is sent: from then on a failure without
        // Postgres's own refusal may have come after the commit (the connection lost with the answer on its way).
        var mayHaveCommitted = false;
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            // A file of a remote source may replace its earlier version in the same commit; an upload is one statement.
            await using var tx = request.SourceId is null ? null : await connection.BeginTransactionAsync(ct);
            if (tx is not null)
            {
                // A new version of a file from a remote source (a Drive edit) replaces the one the vault holds, in the same
                // commit: its row is tombstoned (FileCleanup removes its object) and its text and index entries go.
                replaced = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                    """
                    UPDATE files SET deleted_at = @at, cleanup_after = @at, idempotency_key = NULL, search_vector = NULL, metadata = NULL
                    WHERE user_id = @userId AND source = @source AND source_id = @sourceId AND deleted_at IS NULL AND sha256 <> @sha
                    RETURNING id
                    """,
                    new { userId = request.UserId, source = request.Source, sourceId = request.SourceId, sha, at = time.GetUtcNow() }, tx, cancellationToken: ct));
                if (replaced is not null)
                {
                    await connection.ExecuteAsync(new CommandDefinition(
                        "DELETE FROM file_texts WHERE file_id = @replaced AND user_id = @userId", new { replaced, userId = request.UserId }, tx, cancellationToken: ct));
                }
            }

            var at = time.GetUtcNow();
            var parameters = known is null
                ? work.ParametersFor(new NewWork(ExtractWork.WorkKind, $"{ExtractWork.WorkKind}:{id}", id))
                : outbox.ParametersFor(EventTypes.FileIndexed, new FileIndexed(request.UserId, id, contentType, request.Source, known.Status), $"file.indexed:{id}");
            parameters.AddDynamicParams(new
            {
                id, userId = request.UserId, name, contentType, declared = request.DeclaredType, size, sha, key, source = request.Source,
                sourceId = request.SourceId, idempotencyKey = request.IdempotencyKey, at, words = FileNames.Words(name), uploadRow,
                status = known?.Status ?? AwaitingExtraction, metadata = known?.Metadata is { } metadata ? JsonSerializer.Serialize(metadata) : null,
                indexedAt = known is null ? (DateTimeOffset?)null : at,
            });
            mayHaveCommitted = tx is null;
            file = await connection.QuerySingleOrDefaultAsync<StoredFile>(new CommandDefinition(
                $"""
                WITH file AS (
                    INSERT INTO files (id, user_id, name, content_type, declared_type, size_bytes, sha256, object_key, source, source_id, idempotency_key, created_at, search_vector,
                                       text_status, metadata, indexed_at)
                    VALUES (@id, @userId, @name, @contentType, @declared, @size, @sha, @key, @source, @sourceId, @idempotencyKey, @at, setweight(to_tsvector('simple', @words), 'A'),
                            @status, CAST(@metadata AS jsonb), @indexedAt)
                    ON CONFLICT DO NOTHING
                    RETURNING {FileVault.Columns}
                ), next AS (
                    {(known is null ? WorkQueue.InsertWhenSql("file") : EventOutbox.InsertWhenSql("file"))}
                ), version AS (
                    {SearchCache.BumpSql}
                ), upload AS (
                    DELETE FROM file_uploads WHERE id = @uploadRow
                )
                SELECT * FROM file
                """,
                parameters, tx, cancellationToken: ct));
            if (tx is not null)
            {
                mayHaveCommitted = true;
                await tx.CommitAsync(ct);
            }
        }
        catch (Exception ex)
        {
            // The object is deleted only when its row is known not to be there: deleting it after a commit whose answer was
            // lost would leave a file without content. A row read back on a new connection is the upload stored.
            var (answered, committed) = mayHaveCommitted && ex is not PostgresException ? await ReadBackAsync(request.UserId, id) : (true, null);
            if (committed is null)
            {
                if (answered)
                {
                    await s3.DeleteObjectAsync(Extensions.FilesBucket, key, CancellationToken.None);
                    await ForgetUploadAsync(uploadRow);
                }
                else
                {
                    // Postgres cannot say: the object (and any upload row) stays for UploadSweeper, which deletes what no file owns.
                    LogOutcomeUnknown(logger, id);
                }

                throw;
            }

            file = committed;
            // A remote file's earlier version may have been tombstoned in that commit: FileCleanup looks (it finds nothing else).
            mayHaveReplaced = request.SourceId is not null;
        }

        if (file is not null)
        {
            if (!request.SignalsWorkItself)
            {
                SignalBackgroundWork(file);
            }

            if (replaced is not null || mayHaveReplaced)
            {
                cleanupSignal.Notify();
            }

            return new IngestResult(IngestStatus.Created, file);
        }

        // A concurrent request with the same key or the same bytes won: keep its file, drop these bytes.
        await s3.DeleteObjectAsync(Extensions.FilesBucket, key, CancellationToken.None);
        var winner = (request.IdempotencyKey is null ? null : await FileVault.FindByIdempotencyKeyAsync(dataSource, request.UserId, request.IdempotencyKey, ct))
            ?? await FileVault.FindByShaAsync(dataSource, request.UserId, request.Source, sha, ct);
        return winner is null
            ? throw new InvalidOperationException("The file row conflicted but no conflicting file was found.")
            : request.IdempotencyKey is not null && winner.Sha256 != sha
                ? new IngestResult(IngestStatus.KeyReused, winner)
                : new IngestResult(request.IdempotencyKey is not null ? IngestStatus.Replayed : IngestStatus.Duplicate, winner);
    }

    /// <summary>
    /// The file row <paramref name="id"/> as a new connection reads it after the statement that writes it failed without
    /// Postgres's refusal: <c>(true, row)</c> when it committed, <c>(true, null)</c> when it did not, <c>(false, null)</c>
    /// when Postgres cannot be asked (within a few seconds: the request is already failing).
    /// </summary>
    private async Task<(bool Answered, StoredFile? Row)> ReadBackAsync(string userId, string id)
    {
        try
        {
            using var deadline = new CancellationTokenSource(ReadBackTimeout);
            await using var connection = await dataSource.OpenConnectionAsync(deadline.Token);
            return (true, await connection.QuerySingleOrDefaultAsync<StoredFile>(new CommandDefinition(
                $"SELECT {FileVault.Columns} FROM files WHERE id = @id AND user_id = @userId", new { id, userId }, cancellationToken: deadline.Token)));
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            return (false, null);
        }
    }

    private static readonly TimeSpan ReadBackTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Wakes what follows a recorded file: the work runner when its extraction was queued (text status <c>pending</c>),
    /// otherwise the relay for the <c>file.indexed</c> event written with its row. Only that one: a wake-up with nothing to
    /// do still costs a claim in Postgres (for the work runner a transaction of two round trips), beside the next upload.
    /// </summary>
    public void SignalBackgroundWork(StoredFile file)
    {
        if (file.TextStatus == AwaitingExtraction)
        {
            work.NotifyAdded();
        }
        else
        {
            outbox.NotifyAdded();
        }
    }

    private async Task RecordUploadAsync(string id, string userId, MultipartObject multipart, CancellationToken ct)
    {
        try
        {
            await RecordUploadAsync(id, userId, multipart.UploadId, multipart.Key, "stream", ct);
        }
        catch
        {
            await multipart.AbortAsync();
            throw;
        }
    }

    /// <summary>Notes an object on its way to storage (a multipart upload, or a put: kind <c>put</c>), for the sweeper should the service stop before its file row.</summary>
    private async Task RecordUploadAsync(string id, string userId, string uploadId, string key, string kind, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO file_uploads (id, user_id, storage_upload_id, object_key, kind, expires_at, created_at)
            VALUES (@id, @userId, @uploadId, @key, @kind, @expires, @now)
            """,
            new { id, userId, uploadId, key, kind, expires = time.GetUtcNow() + options.Value.OrphanedUploadAge, now = time.GetUtcNow() },
            cancellationToken: ct));
    }

    private async Task AbandonAsync(MultipartObject multipart, string? uploadRow)
    {
        try
        {
            await multipart.AbortAsync();
        }
        catch (Exception ex) when (FileVault.IsStorageFailure(ex))
        {
            // Storage is unwell: the row stays and the sweeper aborts the upload later.
            LogAbortPostponed(logger, ex.GetType().Name);
            return;
        }

        await ForgetUploadAsync(uploadRow);
    }

    private async Task ForgetUploadAsync(string? uploadRow)
    {
        if (uploadRow is null)
        {
            return;
        }

        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM file_uploads WHERE id = @uploadRow", new { uploadRow }));
        }
        catch (NpgsqlException)
        {
            // The sweeper finds the row later; aborting an aborted upload is harmless.
        }
    }

    /// <summary>
    /// Reads up to <paramref name="size"/> bytes or to the end of the stream into <paramref name="buffer"/> from
    /// <paramref name="offset"/>, hashing each read as it arrives (while the client sends the next bytes, instead of all at
    /// once after the last); answers how many it read.
    /// </summary>
    private static async Task<int> ReadPartAsync(Stream content, byte[] buffer, int offset, int size, IncrementalHash hash, CancellationToken ct)
    {
        var filled = 0;
        while (filled < size && await content.ReadAsync(buffer.AsMemory(offset + filled, size - filled), ct) is var read and > 0)
        {
            hash.AppendData(buffer, offset + filled, read);
            filled += read;
        }

        return filled;
    }

    /// <summary>
    /// Sends a file of the hinted length to storage as it arrives, once its head (<paramref name="head"/> bytes of it in
    /// <paramref name="buffer"/>, more read if its type needs them) shows an accepted type: the put overlaps the client's
    /// upload instead of following it. Every byte also lands
    /// in the buffer (the file is smaller than a part), so when the length was wrong (the form held more than the file)
    /// or storage failed mid-way, this object is deleted and the caller goes on with the bytes read so far, as for any
    /// other file. A client that fails or goes away fails the upload with its own exception, and leaves no object.
    /// When the client's bytes stop short, the put is finished with zeros and then deleted rather than broken off: s3rver
    /// keeps the part of a broken put it received, and may write it after a delete sent at once. A put that storage broke
    /// off cannot be finished, so its key is also left to <see cref="UploadSweeper"/> (a <c>file_uploads</c> row of kind
    /// <c>put</c>), which deletes it again once it expires: a CI run saw the part appear after the delete.
    /// </summary>
    /// <returns>The file, when it was stored and recorded; else null and how many bytes of it are in the buffer.</returns>
    private async Task<(IngestResult? Result, int Filled)> PutWhileArrivingAsync(
        FileIngest request, string name, Stream content, byte[] buffer, int head, IncrementalHash hash, CancellationToken ct)
    {
        (var contentType, head) = await DecideByHeadAsync(request, name, content, buffer, head, hash, ct);
        if (contentType is null)
        {
            // Not decided by the head (a refusal is made on the whole part, as for any file).
            return (null, head);
        }

        var length = request.LengthHint!.Value;
        var id = $"file_{Guid.CreateVersion7():N}";
        var key = FileVault.ObjectKey(request.UserId, id);
        var (body, storageFailure) = await SendArrivingAsync(key, contentType, content, buffer, head, length, hash, keep: true, ct);
        if (storageFailure is not null)
        {
            LogStreamedPutFailed(logger, storageFailure.GetType().Name);
            await RecordUploadAsync(id, request.UserId, "", key, "put", ct);
        }

        int filled;
        try
        {
            ThrowIfClientFailed(body);
            // The rest of the part: nothing when the length held.
            filled = (int)body.Filled + await ReadPartAsync(content, buffer, (int)body.Filled, options.Value.PartSizeBytes - (int)body.Filled, hash, ct);
        }
        catch
        {
            await DeleteQuietlyAsync(key);
            throw;
        }

        if (storageFailure is null && filled == length)
        {
            var sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            return (await RecordAsync(request, id, name, contentType, length, sha, key, null, TextExtraction.ImageFromHead(buffer.AsSpan(0, filled), wholeFile: true, contentType), ct), filled);
        }

        await DeleteQuietlyAsync(key);
        return (null, filled);
    }

    /// <summary>
    /// The type of a file from its head: a media signature (PDF, PNG, JPEG, audio) decides on the first bytes; text and
    /// Word documents on <see cref="HeadBytes"/> (read now). Null when the head does not decide it.
    /// </summary>
    private static async Task<(string? ContentType, int Head)> DecideByHeadAsync(FileIngest request, string name, Stream content, byte[] buffer, int head, IncrementalHash hash, CancellationToken ct)
    {
        var contentType = FileTypes.Sniff(buffer.AsSpan(0, head), false, request.DeclaredType, name).ContentType;
        if (contentType is null || FileTypes.IsText(contentType) || contentType == FileTypes.Docx)
        {
            head += await ReadPartAsync(content, buffer, head, HeadBytes - head, hash, ct);
            contentType = head == HeadBytes ? FileTypes.Sniff(buffer.AsSpan(0, head), false, request.DeclaredType, name).ContentType : null;
        }

        return (contentType, head);
    }

    /// <summary>
    /// A file of a part or more whose length its form gives away, in one put as it arrives, held by no buffer (128 KiB of
    /// it at a time). A multipart upload costs a second pass over every byte where storage joins the parts (s3rver copies
    /// them: 0.46x of a direct put for 100 MB), and its parts wait for whole buffers. A <c>file_uploads</c> row (kind
    /// <c>put</c>) is written before the put, so a crash leaves nothing the sweeper does not delete; the file's row removes
    /// it when recorded.
    /// When the length was wrong (a field or an epilogue after the file: the part ends early; no line break after the
    /// closing delimiter: two bytes more), the put, finished with zeros or cut at the length, holds the file's first bytes
    /// right: they are read back from storage, followed by the rest from the client, and stored again as any other file
    /// (<see cref="Resend"/>; the first object goes once that is done). Storage failing mid-way cannot be mended (no
    /// buffer holds what it was sent): the upload fails as a storage failure (503 with Retry-After) and leaves nothing.
    /// </summary>
    /// <returns>The file, when it was stored and recorded; else how many bytes of its head are in the buffer (its type
    /// was not decided by them), or the file to read again from its first byte (the hash restarted).</returns>
    private async Task<(IngestResult? Result, int Head, Resend? Again)> PutLargeWhileArrivingAsync(
        FileIngest request, string name, Stream content, byte[] buffer, int head, IncrementalHash hash, CancellationToken ct)
    {
        (var contentType, head) = await DecideByHeadAsync(request, name, content, buffer, head, hash, ct);
        if (contentType is null)
        {
            return (null, head, null);
        }

        var length = request.LengthHint!.Value;
        var id = $"file_{Guid.CreateVersion7():N}";
        var key = FileVault.ObjectKey(request.UserId, id);
        await RecordUploadAsync(id, request.UserId, "", key, "put", ct);
        var (body, storageFailure) = await SendArrivingAsync(key, contentType, content, buffer, head, length, hash, keep: false, ct);
        if (storageFailure is not null)
        {
            LogLargePutFailed(logger, storageFailure.GetType().Name);
        }

        int more;
        try
        {
            ThrowIfClientFailed(body);
            if (storageFailure is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(storageFailure);
            }

            // The rest of the part: nothing when the length held.
            more = await ReadPartAsync(content, buffer, 0, buffer.Length, hash, ct);
        }
        catch
        {
            await DiscardAsync(key, id);
            throw;
        }

        if (body.Filled == length && more == 0)
        {
            var sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            return (await RecordAsync(request, id, name, contentType, length, sha, key, id, null, ct), 0, null);
        }

        LogLengthMended(logger, body.Filled + more - length);
        hash.GetHashAndReset();
        var rest = buffer.AsSpan(0, more).ToArray();
        try
        {
            var stored = await s3.GetObjectAsync(new Amazon.S3.Model.GetObjectRequest { BucketName = Extensions.FilesBucket, Key = key, ByteRange = new Amazon.S3.Model.ByteRange(0, body.Filled - 1) }, ct);
            return (null, 0, new Resend(new ConcatenatedStream(stored.ResponseStream, new MemoryStream(rest), content), stored, key, id));
        }
        catch
        {
            await DiscardAsync(key, id);
            throw;
        }
    }

    /// <summary>
    /// Puts the arriving file (its head in <paramref name="buffer"/>, the rest read from <paramref name="content"/> as it
    /// comes) under <paramref name="key"/>; answers the body, which tells how much of the file was read and whether the
    /// client failed, and storage's failure if the put did not hold. Not cancelled with the request: a client that goes
    /// away ends its bytes, and the put is finished with zeros (see <see cref="ArrivingContent"/>).
    /// </summary>
    private async Task<(ArrivingContent Body, Exception? StorageFailure)> SendArrivingAsync(
        string key, string contentType, Stream content, byte[] buffer, int head, long length, IncrementalHash hash, bool keep, CancellationToken ct)
    {
        var body = new ArrivingContent(content, buffer, head, length, hash, keep, ct);
        try
        {
            await streamingPut.PutAsync(Extensions.FilesBucket, key, contentType, body, CancellationToken.None);
            return (body, null);
        }
        catch (Exception ex)
        {
            await body.StopAsync();
            return (body, ex);
        }
    }

    /// <summary>A client that failed or went away while its file was put fails the upload with its own exception.</summary>
    private static void ThrowIfClientFailed(ArrivingContent body)
    {
        if (body.ClientFailure is { } failure)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    /// <summary>A file to read again from its first byte (<see cref="Content"/>), and the put to discard once it is stored or given up.</summary>
    private sealed record Resend(Stream Content, IDisposable Source, string Key, string UploadRow);

    /// <summary>Deletes a put's object and then its <c>file_uploads</c> row; the row stays for the sweeper when storage does not answer.</summary>
    private async Task DiscardAsync(string key, string uploadRow)
    {
        if (await DeleteQuietlyAsync(key))
        {
            await ForgetUploadAsync(uploadRow);
        }
    }

    private async Task<bool> DeleteQuietlyAsync(string key)
    {
        try
        {
            await s3.DeleteObjectAsync(Extensions.FilesBucket, key, CancellationToken.None);
            return true;
        }
        catch (Exception ex) when (FileVault.IsStorageFailure(ex))
        {
            // Only a store that keeps what a broken put sent (s3rver) has anything under this key.
            LogDeleteFailed(logger, ex.GetType().Name);
            return false;
        }
    }

    /// <summary>
    /// The body of a put that overlaps the upload: the head already read, then the client's bytes as they come, each
    /// hashed, up to the announced length, sent on in writes of <see cref="SendChunk"/> (the multipart reader hands out a
    /// few KiB per read). With <paramref name="keep"/> every read lands in the buffer after the ones before it (a file
    /// smaller than a part, kept whole for a second try); without, reads reuse the buffer's first
    /// <see cref="SendChunk"/> bytes and more (a file of any size in 128 KiB). Its length is announced up front (the
    /// storage request needs it); when the client's bytes end early or fail (<see cref="ClientFailure"/>), or the upload's
    /// request is aborted, the rest is zeros. Sent at most once.
    /// </summary>
    private sealed class ArrivingContent(Stream source, byte[] buffer, int head, long length, IncrementalHash hash, bool keep, CancellationToken clientGone) : HttpContent
    {
        private const int SendChunk = 64 * 1024;

        private static readonly byte[] Zeros = new byte[SendChunk];

        // Not disposed with the content (the request disposes it before StopAsync runs); it holds no timer.
        private readonly CancellationTokenSource _stop = new();
        private readonly int _head = head;
        private Task _sending = Task.CompletedTask;

        /// <summary>Bytes of the file read (the head and every read since); with keep, they are the buffer's first bytes.</summary>
        public long Filled { get; private set; } = head;

        /// <summary>Why reading from the client failed, if it did.</summary>
        public Exception? ClientFailure { get; private set; }

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken) =>
            _sending = _sending == Task.CompletedTask && Filled == _head
                ? SendAsync(stream, cancellationToken)
                : throw new InvalidOperationException("A body read from the client cannot be sent twice.");

        private async Task SendAsync(Stream stream, CancellationToken cancellationToken)
        {
            using var sending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
            using var reading = CancellationTokenSource.CreateLinkedTokenSource(sending.Token, clientGone);
            await stream.WriteAsync(buffer.AsMemory(0, _head), sending.Token);
            // [sent, at) of the buffer is read and not yet sent; a read goes to at.
            var at = keep ? _head : 0;
            var sent = at;
            while (Filled < length)
            {
                int read;
                try
                {
                    var room = keep ? length - Filled : Math.Min(length - Filled, (2 * SendChunk) - at);
                    read = await source.ReadAsync(buffer.AsMemory(at, (int)room), reading.Token);
                }
                catch (Exception ex) when (!sending.IsCancellationRequested)
                {
                    ClientFailure = ex;
                    break;
                }

                if (read == 0)
                {
                    // The part is shorter than the form's length said: the caller finds out by Filled.
                    break;
                }

                hash.AppendData(buffer, at, read);
                Filled += read;
                at += read;
                if (at - sent >= SendChunk || Filled == length)
                {
                    await stream.WriteAsync(buffer.AsMemory(sent, at - sent), sending.Token);
                    sent = at = keep ? at : 0;
                }
            }

            await stream.WriteAsync(buffer.AsMemory(sent, at - sent), sending.Token);
            for (var padded = Filled; padded < length; padded += SendChunk)
            {
                await stream.WriteAsync(Zeros.AsMemory(0, (int)Math.Min(SendChunk, length - padded)), sending.Token);
            }
        }

        protected override bool TryComputeLength(out long size)
        {
            size = length;
            return true;
        }

        /// <summary>Ends a send still reading from the client (storage answered before the body was sent) and waits for it.</summary>
        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            await _sending.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Whether file {FileId} was recorded is unknown (Postgres did not answer); its object is left to the upload sweeper")]
    private static partial void LogOutcomeUnknown(ILogger logger, string fileId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Upload abandoned ({ExceptionType}); its multipart upload is aborted")]
    private static partial void LogUploadAbandoned(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Information, Message = "A put overlapping its upload did not hold ({ExceptionType}); the file is stored from its buffer")]
    private static partial void LogStreamedPutFailed(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Information, Message = "A put of a form's announced length was off by {Difference} bytes; the file is read back and stored again")]
    private static partial void LogLengthMended(ILogger logger, long difference);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A put of a large file as it arrived failed ({ExceptionType}); the upload fails and leaves nothing")]
    private static partial void LogLargePutFailed(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deleting the object of a broken put failed ({ExceptionType})")]
    private static partial void LogDeleteFailed(ILogger logger, string exceptionType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Aborting a multipart upload failed ({ExceptionType}); the sweeper retries it")]
    private static partial void LogAbortPostponed(ILogger logger, string exceptionType);
}
