using System.Text.Json;
using Amazon.S3;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Media.Files;
using Sunaiva.Media.Search;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Extraction;

/// <summary>The <c>file.indexed</c> event: a file's text (or its absence) is known and the file is searchable.</summary>
public sealed record FileIndexed(string UserId, string FileId, string ContentType, string Source, string TextStatus);

/// <summary>
/// Extracts one file's text (kind <c>file.extract</c>, payload the file id): downloads the object to a temporary file
/// (deleted on close) with no transaction open, extracts within the configured time and size limits, then in one
/// short transaction stores the text, the weighted search vector in the file's language and the <c>file.indexed</c>
/// event, and marks the item done. A file deleted meanwhile is ignored; a storage outage retries; content that cannot
/// be parsed (or takes too long) is marked <c>failed</c> and stays findable by name.
/// </summary>
public sealed partial class ExtractWork(
    NpgsqlDataSource dataSource,
    IAmazonS3 s3,
    TextExtraction extraction,
    AudioTranscription transcription,
    WorkQueue queue,
    EventOutbox outbox,
    IOptions<FileVaultOptions> options,
    TimeProvider time,
    ILogger<ExtractWork> logger) : IWorkHandler
{
    public const string WorkKind = "file.extract";

    public string Kind => WorkKind;

    public Task HandleAsync(WorkContext context, CancellationToken cancellationToken) => RunAsync(context, transcriptionRetry: false, cancellationToken);

    /// <summary>
    /// Extracts and indexes one file. Audio is transcribed through the <c>transcription</c> chain when a transcriber is
    /// wired; when none answers, the first run indexes the file by name and metadata (<c>awaiting_transcription</c>) and
    /// queues <see cref="TranscribeWork"/> in the same commit, whose runs (<paramref name="transcriptionRetry"/>) throw so
    /// the runner retries them with back-off (an open circuit waits without spending an attempt) until Voice answers.
    /// </summary>
    internal async Task RunAsync(WorkContext context, bool transcriptionRetry, CancellationToken cancellationToken)
    {
        var id = context.Item.Payload;
        Row? row;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
                "SELECT user_id AS userid, name, content_type AS contenttype, source, object_key AS objectkey FROM files WHERE id = @id AND deleted_at IS NULL",
                new { id }, cancellationToken: cancellationToken));
        }

        if (row is null)
        {
            await context.IgnoreAsync("file deleted", cancellationToken);
            return;
        }

        var o = options.Value;
        Stream local;
        try
        {
            local = await DownloadAsync(row, cancellationToken);
        }
        catch (Amazon.S3.AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            // Storage holds no object for the file (removed behind the vault's back): no retry can bring it. Its name stays
            // searchable, and its text status says why nothing else is.
            LogExtractionFailed(logger, id, "content missing from storage");
            await RecordAsync(context, id, row, Extracted.Failed("the content is missing from storage"), transcriptionRetry, retryTranscription: false, cancellationToken);
            return;
        }

        await using var _ = local;

        Extracted extracted;
        var transcribe = FileTypes.IsAudio(row.ContentType) && transcription.IsConfigured;
        if (transcriptionRetry && !transcribe)
        {
            await context.IgnoreAsync("no transcriber wired", cancellationToken);
            return;
        }

        var retryTranscription = false;
        using var timeout = new CancellationTokenSource(transcribe ? o.TranscriptionTimeout : o.ExtractionTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            if (transcribe)
            {
                var path = ((FileStream)local).Name;
                var text = await transcription.TranscribeAsync(
                    () => new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 81920, FileOptions.Asynchronous), row.ContentType, row.UserId, linked.Token);
                extracted = TextExtraction.FromTranscript(text, o.MaxExtractedChars);
            }
            else
            {
                // Parsers are synchronous: run them off the runner's thread so the timeout can be observed between pages.
                extracted = await Task.Run(() => extraction.ExtractAsync(local, row.ContentType, linked.Token), linked.Token);
            }
        }
        catch (TranscriptionUnavailableException ex) when (ex.InnerException is Sunaiva.Integration.ProviderChainException { InnerException: Sunaiva.Integration.PermanentFailureException })
        {
            // Voice answered that it cannot decode this audio: retrying cannot help. Its name stays searchable.
            LogExtractionFailed(logger, id, "undecodable audio");
            extracted = Extracted.Failed("the audio could not be decoded");
        }
        catch (TranscriptionUnavailableException ex)
        {
            if (transcriptionRetry)
            {
                // The runner backs off (without spending an attempt while the circuit is open) and tries again.
                throw ex.InnerException ?? ex;
            }

            LogTranscriptionPostponed(logger, id);
            extracted = new Extracted("awaiting_transcription", string.Empty, string.Empty, false);
            retryTranscription = true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            extracted = Extracted.Failed("extraction took longer than allowed");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The content is what it is: retrying cannot parse it. Its name stays searchable.
            LogExtractionFailed(logger, id, ex.GetType().Name);
            extracted = Extracted.Failed("the content could not be read");
        }

        await RecordAsync(context, id, row, extracted, transcriptionRetry, retryTranscription, cancellationToken);
    }

    /// <summary>The file's text and search vector, its <c>file.indexed</c> event and, when asked, its transcription retry: one commit.</summary>
    private async Task RecordAsync(WorkContext context, string id, Row row, Extracted extracted, bool transcriptionRetry, bool retryTranscription, CancellationToken cancellationToken)
    {
        var o = options.Value;
        var language = extracted.Status == "indexed" ? LanguageGuess.For(extracted.Body) : "simple";
        await context.CommitAsync(async (c, tx, ct) =>
        {
            if (extracted.Status == "indexed")
            {
                await c.ExecuteAsync(new CommandDefinition(
                    """
                    INSERT INTO file_texts (file_id, user_id, body, truncated) VALUES (@id, @userId, @body, @truncated)
                    ON CONFLICT (file_id) DO UPDATE SET body = excluded.body, truncated = excluded.truncated
                    """,
                    new { id, userId = row.UserId, body = extracted.Body, truncated = extracted.Truncated }, tx, cancellationToken: ct));
            }

            var updated = await c.ExecuteAsync(new CommandDefinition(
                """
                UPDATE files SET
                    text_status = @status, language = @language::regconfig, indexed_at = @at,
                    metadata = CAST(@metadata AS jsonb),
                    search_vector = setweight(to_tsvector(@language::regconfig, @words), 'A')
                                 || setweight(to_tsvector(@language::regconfig, @headings), 'B')
                                 || setweight(to_tsvector(@language::regconfig, left(@body, @indexed)), 'C')
                WHERE id = @id AND deleted_at IS NULL
                """,
                new
                {
                    id, status = extracted.Status, language, at = time.GetUtcNow(),
                    metadata = extracted.Metadata is null ? null : JsonSerializer.Serialize(extracted.Metadata),
                    words = FileNames.Words(row.Name), headings = extracted.Headings, body = extracted.Body, indexed = o.MaxIndexedChars,
                },
                tx, cancellationToken: ct));
            if (updated == 1)
            {
                await c.ExecuteAsync(new CommandDefinition(SearchCache.BumpSql, new { userId = row.UserId }, tx, cancellationToken: ct));
                var eventKey = transcriptionRetry ? $"file.indexed:{id}:transcribed" : $"file.indexed:{id}";
                await outbox.AddAsync(c, tx, EventTypes.FileIndexed, new FileIndexed(row.UserId, id, row.ContentType, row.Source, extracted.Status), eventKey, ct);
                if (retryTranscription)
                {
                    await queue.EnqueueAsync(c, tx, TranscribeWork.For(id), ct);
                }
            }
        }, cancellationToken);
    }

    /// <summary>
    /// The object as a local copy: a temporary file (deleted on close) for what is parsed, only the header of an image
    /// (its dimensions are all that is read), so a photo is not downloaded whole for a few bytes.
    /// </summary>
    private async Task<Stream> DownloadAsync(Row row, CancellationToken ct)
    {
        if (row.ContentType is FileTypes.Png or FileTypes.Jpeg)
        {
            var request = new Amazon.S3.Model.GetObjectRequest
            {
                BucketName = Extensions.FilesBucket,
                Key = row.ObjectKey,
                ByteRange = new Amazon.S3.Model.ByteRange(0, TextExtraction.ImageHeaderBytes - 1),
            };
            var head = new MemoryStream();
            using (var response = await s3.GetObjectAsync(request, ct))
            {
                await response.ResponseStream.CopyToAsync(head, ct);
            }

            head.Position = 0;
            return head;
        }

        var local = new FileStream(Path.Combine(Path.GetTempPath(), ScratchSweeper.ExtractPrefix + Guid.NewGuid().ToString("N")), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, 81920, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        try
        {
            using var response = await s3.GetObjectAsync(Extensions.FilesBucket, row.ObjectKey, ct);
            await response.ResponseStream.CopyToAsync(local, ct);
            local.Position = 0;
            return local;
        }
        catch
        {
            await local.DisposeAsync();
            throw;
        }
    }

    private sealed record Row(string UserId, string Name, string ContentType, string Source, string ObjectKey);

    [LoggerMessage(Level = LogLevel.Information, Message = "No transcriber answered for file {FileId}; it is indexed by name now and transcribed later")]
    private static partial void LogTranscriptionPostponed(ILogger logger, string fileId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Text of file {FileId} could not be extracted ({ExceptionType}); it stays searchable by name")]
    private static partial void LogExtractionFailed(ILogger logger, string fileId, string exceptionType);
}
