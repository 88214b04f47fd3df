using Microsoft.Net.Http.Headers;

namespace Sunaiva.Media.Files;

/// <summary>
/// Streams a stored object (or one range of it) to the client with its stored type, never sniffed, in a CSP sandbox;
/// active types (HTML above all) only as attachments.
/// </summary>
public sealed class FileContentResult(StoredFile file, FileContent content) : IResult
{
    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        await using var stream = content.Stream;
        response.StatusCode = content.From is null ? StatusCodes.Status200OK : StatusCodes.Status206PartialContent;
        response.ContentType = file.ContentType;
        response.ContentLength = content.Length;
        response.Headers.AcceptRanges = "bytes";
        if (content.From is { } from)
        {
            response.Headers.ContentRange = $"bytes {from}-{from + content.Length - 1}/{content.TotalLength}";
        }

        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.ContentSecurityPolicy = "sandbox; default-src 'none'";
        var disposition = new ContentDispositionHeaderValue(FileTypes.IsInlineSafe(file.ContentType) ? "inline" : "attachment");
        disposition.SetHttpFileName(file.Name);
        response.Headers.ContentDisposition = disposition.ToString();
        await stream.CopyToAsync(response.Body, httpContext.RequestAborted);
    }
}
