using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Sunaiva.Contracts;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Media.Files;

public static class FilesApi
{
    // Room for the multipart boundaries and part headers around the file itself.
    private const long FormOverheadBytes = 64 * 1024;

    public static RouteGroupBuilder MapFilesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/files").RequireAuthorization().WithTags("Files");
        // Storage requests made while serving a user are metered against that user.
        group.AddEndpointFilter(async (context, next) =>
        {
            using var _ = Sunaiva.Integration.MeteringContext.ForUser(context.HttpContext.User.FindFirst("sub")?.Value);
            return await next(context);
        });
        group.MapPost("/", UploadAsync).DisableAntiforgery()
            .Accepts<FileUpload>("multipart/form-data")
            .WithIdempotencyKey("Optional. 1 to 200 printable ASCII characters (no commas); a retry with the same key and file answers 200 with the stored file; the same key for another file is 422.")
            .ProducesProblems(StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Upload a file to the caller's vault (multipart form field 'file'), streamed to storage")
            .WithDescription("201 with the stored file; 200 when an Idempotency-Key repeats an earlier upload or the caller already has these bytes. The type is decided by the content (pdf, docx, txt, md, csv, json, html, png, jpeg, mp3, wav, m4a); the size limit is FileVault:MaxUploadBytes (100 MB). 503 with Retry-After when too many uploads are in progress.");
        group.MapPost("/uploads", StartResumableAsync)
            .WithIdempotencyKey("Optional; remembered with the upload and applied when it completes.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge)
            .WithSummary("Start a resumable upload: presigned part URLs to PUT the file's parts to storage directly");
        group.MapPost("/uploads/{id}/complete", CompleteResumableAsync)
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity)
            .WithSummary("Complete a resumable upload with the parts' ETags; the file is verified (size, type by content, hash) before it is stored");
        group.MapGet("/", ListAsync).ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound)
            .WithSummary("The caller's files, newest first; pass the last id of a page as before= for the next page");
        group.MapGet("/{id}", GetAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("One of the caller's files");
        group.MapGet("/{id}/content", DownloadAsync).ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status416RangeNotSatisfiable)
            .Produces<Stream>(StatusCodes.Status200OK, "application/octet-stream")
            .Produces<Stream>(StatusCodes.Status206PartialContent, "application/octet-stream")
            .WithSummary("Download a file's content; one byte range with Range: bytes=a-b (206). HTML and other active types come as attachments in a CSP sandbox");
        group.MapGet("/{id}/access-log", AccessLogAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("Reads of the file's content (downloads, ranges, MCP read_file), newest first");
        group.MapDelete("/{id}", DeleteAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("Delete one of the caller's files: its content, text, index entries and cached search results");
        return group;
    }

    private static async Task<Results<Created<StoredFile>, Ok<StoredFile>, ProblemHttpResult>> UploadAsync(
        HttpRequest request,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        FileIngestion ingestion,
        UploadGate gate,
        IOptions<FileVaultOptions> options,
        CancellationToken ct)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var mediaType) || !mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            return TypedResults.Problem(statusCode: 415, title: "Expected multipart/form-data", detail: "Send the file as the form field 'file'.");
        }

        var boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value;
        if (string.IsNullOrEmpty(boundary) || boundary.Length > 200)
        {
            return TypedResults.Problem(statusCode: 400, title: "Unreadable multipart body", detail: "The multipart boundary is missing.");
        }

        if (idempotencyKey is not null && !InputRules.IsOpaqueKey(idempotencyKey))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid Idempotency-Key", detail: "Send one key of 1 to 200 printable ASCII characters (no commas).");
        }

        var limit = options.Value.MaxUploadBytes;
        if (request.ContentLength > limit + FormOverheadBytes)
        {
            return TooLarge(limit);
        }

        // A chunked body announces no length: bound what is read, so too much is a 413 and not a broken form.
        if (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = limit + FormOverheadBytes;
        }

        using var lease = await gate.EnterAsync(ct);
        if (!lease.IsAcquired)
        {
            request.HttpContext.Response.Headers.RetryAfter = UploadGate.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return TypedResults.Problem(statusCode: 503, title: "Too many uploads in progress", detail: "Try again after the Retry-After delay.");
        }

        IngestResult? result = null;
        try
        {
            var body = new FormFraming(request.Body, boundary);
            var reader = new MultipartReader(boundary, body, 64 * 1024) { BodyLengthLimit = null, HeadersLengthLimit = 16 * 1024 };
            var first = true;
            while (result is null && await reader.ReadNextSectionAsync(ct) is { } section)
            {
                if (ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                    && disposition.IsFileDisposition() && HeaderUtilities.RemoveQuotes(disposition.Name).Equals("file", StringComparison.Ordinal))
                {
                    var name = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                    if (!FileNames.IsAcceptable(name))
                    {
                        return TypedResults.Problem(statusCode: 400, title: "Invalid file name", detail: "The file needs a name (not '.' or '..') without control characters.");
                    }

                    var length = first ? body.FirstPartLength(request.ContentLength) : null;
                    result = await ingestion.IngestAsync(new FileIngest(request.HttpContext.User.UserId(), name ?? string.Empty, "upload", null, section.ContentType, idempotencyKey, length, SignalsWorkItself: true), section.Body, ct);
                }

                first = false;
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(limit);
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException
            || (ex is IOException && ex.StackTrace?.Contains("Amazon.", StringComparison.Ordinal) != true && !Sunaiva.ServiceDefaults.Resilience.DependencyFailures.IsOutage(ex)))
        {
            // A malformed or truncated body, or a client that went away; storage failures pass on to the 503 handler.
            return TypedResults.Problem(statusCode: 400, title: "Unreadable multipart body", detail: "The body is not valid multipart/form-data (check the boundary), or it ended early.");
        }

        if (result?.Status == IngestStatus.Created)
        {
            // The file's extraction (or its file.indexed event) starts once this answer is sent, not beside it: extraction reads
            // the object back from storage, and the answer of a 1 MB upload waited 0.4 ms longer for it (bench/Sunaiva.Bench.Files;
            // docs/files.md).
            request.HttpContext.Response.OnCompleted(static state =>
            {
                var (ingestion, file) = ((FileIngestion, StoredFile))state;
                ingestion.SignalBackgroundWork(file);
                return Task.CompletedTask;
            }, (ingestion, result.File!));
        }

        return result is null
            ? TypedResults.Problem(statusCode: 400, title: "No file", detail: "The form field 'file' is missing.")
            : ToResult(result, limit);
    }

    private static Results<Created<StoredFile>, Ok<StoredFile>, ProblemHttpResult> ToResult(IngestResult result, long limit) => result.Status switch
    {
        IngestStatus.Created => TypedResults.Created($"/files/{result.File!.Id}", result.File),
        IngestStatus.Duplicate or IngestStatus.Replayed => TypedResults.Ok(result.File!),
        IngestStatus.KeyReused => TypedResults.Problem(statusCode: 422, title: "Idempotency-Key reused", detail: "This key was used for a different file; use a new key for a new upload."),
        IngestStatus.TooLarge => TooLarge(limit),
        IngestStatus.Refused => TypedResults.Problem(statusCode: 415, title: "File type not accepted", detail: $"{result.Reason}. Accepted: pdf, docx, txt, md, csv, json, html, png, jpeg, mp3, wav, m4a."),
        _ => TypedResults.Problem(statusCode: 422, title: "Upload not accepted", detail: result.Reason),
    };

    private static async Task<Results<Ok<ResumableUpload>, ProblemHttpResult>> StartResumableAsync(
        ResumableUploadRequest body, [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, HttpContext http, ResumableUploads uploads, IOptions<FileVaultOptions> options, CancellationToken ct)
    {
        if (body.SizeBytes < 1 || !FileNames.IsAcceptable(body.Name) || (idempotencyKey is not null && !InputRules.IsOpaqueKey(idempotencyKey)))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid upload", detail: "Send the file's name and its exact size in bytes (and an Idempotency-Key of 1 to 200 printable ASCII characters, if any).");
        }

        if (body.SizeBytes > options.Value.MaxUploadBytes)
        {
            return TooLarge(options.Value.MaxUploadBytes);
        }

        return TypedResults.Ok(await uploads.StartAsync(http.User.UserId(), body, idempotencyKey, ct));
    }

    private static async Task<Results<Created<StoredFile>, Ok<StoredFile>, ProblemHttpResult>> CompleteResumableAsync(
        string id, CompleteUploadRequest body, HttpContext http, ResumableUploads uploads, IOptions<FileVaultOptions> options, CancellationToken ct)
    {
        if (body.Parts is not { Count: > 0 } || body.Parts.Any(p => p.PartNumber is < 1 or > 10_000 || string.IsNullOrEmpty(p.ETag)))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid parts", detail: "List every part as { partNumber, eTag } (the ETag header storage answered to its PUT).");
        }

        var result = await uploads.CompleteAsync(http.User.UserId(), id, body.Parts, ct);
        return result is null ? NotFound("Upload not found") : ToResult(result, options.Value.MaxUploadBytes);
    }

    /// <summary><c>GET /files?limit=50&amp;before={id}</c>: newest first; pass the last id of a page as <c>before</c> for the next.</summary>
    private static async Task<Results<Ok<IReadOnlyList<StoredFile>>, ProblemHttpResult>> ListAsync(HttpContext http, FileVault vault, CancellationToken ct, int limit = 50, string? before = null)
    {
        if (limit is < 1 or > 200 || (before is not null && !InputRules.IsOpaqueKey(before)))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid page", detail: "limit is between 1 and 200; before is a file id from an earlier page.");
        }

        var userId = http.User.UserId();
        if (before is not null && await vault.GetAsync(userId, before, ct) is null)
        {
            return NotFound();
        }

        return TypedResults.Ok(await vault.ListAsync(userId, limit, before, ct));
    }

    private static async Task<Results<Ok<StoredFile>, ProblemHttpResult>> GetAsync(string id, HttpContext http, FileVault vault, CancellationToken ct) =>
        await vault.GetAsync(http.User.UserId(), id, ct) is { } file ? TypedResults.Ok(file) : NotFound();

    private static async Task<Results<FileContentResult, ProblemHttpResult>> DownloadAsync(string id, HttpContext http, FileVault vault, CancellationToken ct)
    {
        var userId = http.User.UserId();
        if (await vault.GetAsync(userId, id, ct) is not { } file)
        {
            return NotFound();
        }

        long? from = null;
        long? to = null;
        if (http.Request.GetTypedHeaders().Range is { Unit.Value: "bytes", Ranges.Count: 1 } range && file.SizeBytes > 0)
        {
            var item = range.Ranges.Single();
            (from, to) = item.From is { } f ? (f, Math.Min(item.To ?? file.SizeBytes - 1, file.SizeBytes - 1)) : (Math.Max(0, file.SizeBytes - item.To!.Value), file.SizeBytes - 1);
            if (from >= file.SizeBytes || from > to)
            {
                http.Response.Headers.ContentRange = $"bytes */{file.SizeBytes}";
                return TypedResults.Problem(statusCode: 416, title: "Range not satisfiable", detail: $"The file has {file.SizeBytes} bytes.");
            }
        }

        if (await vault.OpenAsync(userId, file, from, to, ct) is not { } content)
        {
            return TypedResults.Problem(statusCode: 404, title: "File content not found", detail: "Storage holds no content for this file; delete it and upload it again.");
        }

        await vault.RecordAccessAsync(userId, id, from is null ? "download" : "download.range", from is null ? null : $"bytes={from}-{to}", ct);
        return new FileContentResult(file, content);
    }

    private static async Task<Results<Ok<IReadOnlyList<FileAccessEntry>>, ProblemHttpResult>> AccessLogAsync(string id, HttpContext http, FileVault vault, CancellationToken ct, int limit = 100)
    {
        var userId = http.User.UserId();
        return await vault.GetAsync(userId, id, ct) is null
            ? NotFound()
            : TypedResults.Ok(await vault.AccessLogAsync(userId, id, Math.Clamp(limit, 1, 500), ct));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string id, HttpContext http, FileVault vault, CancellationToken ct) =>
        await vault.DeleteAsync(http.User.UserId(), id, ct) ? TypedResults.NoContent() : NotFound();

    /// <summary>The multipart form of an upload, for the document: one field named <c>file</c>.</summary>
    internal sealed class FileUpload
    {
        public required IFormFile File { get; init; }
    }

    // Another user's file and a missing file look the same, so ids reveal nothing.
    private static ProblemHttpResult NotFound(string title = "File not found") =>
        TypedResults.Problem(statusCode: 404, title: title);

    private static ProblemHttpResult TooLarge(long limit) =>
        TypedResults.Problem(statusCode: 413, title: "File too large", detail: $"Files may have at most {limit} bytes.");
}
