using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;
using Sunaiva.Contracts;

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
            .ProducesProblems(StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity)
            .WithSummary("Upload a file to the caller's vault (multipart form field 'file')")
            .WithDescription("201 with the stored file; 200 when an Idempotency-Key repeats an earlier upload. Accepted types and the size limit come from FileVault settings.");
        group.MapGet("/", ListAsync).ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound)
            .WithSummary("The caller's files, newest first; pass the last id of a page as before= for the next page");
        group.MapGet("/{id}", GetAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("One of the caller's files");
        group.MapGet("/{id}/content", DownloadAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .Produces<Stream>(StatusCodes.Status200OK, "application/octet-stream")
            .WithSummary("Download a file's content (served with its stored type and nosniff)");
        group.MapDelete("/{id}", DeleteAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("Delete one of the caller's files");
        return group;
    }

    private static async Task<Results<Created<StoredFile>, Ok<StoredFile>, ProblemHttpResult>> UploadAsync(
        HttpRequest request,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        FileVault vault,
        IOptions<FileVaultOptions> options,
        CancellationToken ct)
    {
        if (!request.HasFormContentType)
        {
            return TypedResults.Problem(statusCode: 415, title: "Expected multipart/form-data", detail: "Send the file as the form field 'file'.");
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
        var bodyLimit = limit + FormOverheadBytes;
        if (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodySize)
        {
            bodySize.MaxRequestBodySize = bodyLimit;
        }

        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(new Microsoft.AspNetCore.Http.Features.FormOptions { MultipartBodyLengthLimit = bodyLimit }, ct);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(limit);
        }
        catch (InvalidDataException ex) when (ex.Message.Contains("length limit", StringComparison.OrdinalIgnoreCase))
        {
            return TooLarge(limit);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            return TypedResults.Problem(statusCode: 400, title: "Unreadable multipart body", detail: "The body is not valid multipart/form-data (check the boundary).");
        }
        var file = form.Files.GetFile("file");
        if (file is null || file.Length == 0)
        {
            return TypedResults.Problem(statusCode: 400, title: "No file", detail: "The form field 'file' is missing or empty.");
        }

        if (file.Length > limit)
        {
            return TooLarge(limit);
        }

        var contentType = (file.ContentType ?? string.Empty).Split(';')[0].Trim().ToLowerInvariant();
        if (!options.Value.AllowedContentTypes.Contains(contentType, StringComparer.OrdinalIgnoreCase))
        {
            return TypedResults.Problem(statusCode: 415, title: "File type not accepted", detail: $"'{contentType}' is not one of the accepted types.");
        }

        if (CleanName(file.FileName) is not { } name)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid file name", detail: "The file needs a name of at most 255 characters, without control characters.");
        }

        await using var stream = file.OpenReadStream();
        var outcome = await vault.SaveAsync(request.HttpContext.User.UserId(), name, contentType, stream, idempotencyKey, ct);
        return outcome switch
        {
            { KeyReused: true } => TypedResults.Problem(statusCode: 422, title: "Idempotency-Key reused", detail: "This key was used for a different file; use a new key for a new upload."),
            { Created: true } => TypedResults.Created($"/files/{outcome.File.Id}", outcome.File),
            _ => TypedResults.Ok(outcome.File),
        };
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

    private static async Task<Results<FileStreamHttpResult, ProblemHttpResult>> DownloadAsync(string id, HttpContext http, FileVault vault, CancellationToken ct)
    {
        var userId = http.User.UserId();
        var file = await vault.GetAsync(userId, id, ct);
        var stream = file is null ? null : await vault.OpenAsync(userId, id, ct);
        // The type is the uploader's claim: browsers must not sniff a "picture" into a script.
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return stream is null ? NotFound() : TypedResults.Stream(stream, file!.ContentType, file.Name);
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string id, HttpContext http, FileVault vault, CancellationToken ct) =>
        await vault.DeleteAsync(http.User.UserId(), id, ct) ? TypedResults.NoContent() : NotFound();

    /// <summary>The multipart form of an upload, for the document: one field named <c>file</c>.</summary>
    internal sealed class FileUpload
    {
        public required IFormFile File { get; init; }
    }

    /// <summary>The base name only (either separator), without control characters, never "." or "..".</summary>
    internal static string? CleanName(string? fileName)
    {
        var name = (fileName ?? string.Empty).Replace('\\', '/').Split('/').Last().Trim();
        return name.Length is 0 or > 255 || name is "." or ".." || InputRules.HasControlCharacters(name) ? null : name;
    }

    // Another user's file and a missing file look the same, so ids reveal nothing.
    private static ProblemHttpResult NotFound() =>
        TypedResults.Problem(statusCode: 404, title: "File not found");

    private static ProblemHttpResult TooLarge(long limit) =>
        TypedResults.Problem(statusCode: 413, title: "File too large", detail: $"Files may have at most {limit} bytes.");
}
