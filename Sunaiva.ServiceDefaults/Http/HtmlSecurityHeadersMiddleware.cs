using Microsoft.AspNetCore.Http;

namespace Sunaiva.ServiceDefaults.Http;

/// <summary>
/// Every HTML answer, whatever serves it (an endpoint, static files, an error page), gets a Content-Security-Policy
/// that forbids framing and foreign origins, and nosniff. A policy an endpoint set itself is kept.
/// </summary>
internal sealed class HtmlSecurityHeadersMiddleware(RequestDelegate next)
{
    // Inline script and style are still allowed because the ops dashboard inlines them; once every page loads
    // its script from a file, drop 'unsafe-inline' from script-src.
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    public Task InvokeAsync(HttpContext context)
    {
        context.Response.OnStarting(static state =>
        {
            var response = (HttpResponse)state;
            if (response.ContentType is { } type && type.StartsWith("text/html", StringComparison.OrdinalIgnoreCase))
            {
                response.Headers.TryAdd("Content-Security-Policy", ContentSecurityPolicy);
                response.Headers.XContentTypeOptions = "nosniff";
                response.Headers.XFrameOptions = "DENY";
                response.Headers.TryAdd("Referrer-Policy", "no-referrer");
            }

            return Task.CompletedTask;
        }, context.Response);
        return next(context);
    }
}
