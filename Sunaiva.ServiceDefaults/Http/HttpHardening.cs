using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Sunaiva.ServiceDefaults.Http;

/// <summary>
/// Kestrel answers an over-long request line (414) or oversized headers (431) itself, with an empty body and
/// no hook to change it. So Kestrel's own limits are raised well past the real ones and
/// <see cref="RequestLimitsMiddleware"/> enforces the real limits with ProblemDetails. Only a request past the
/// raised limits still gets Kestrel's bare answer.
/// </summary>
public static class HttpHardening
{
    /// <summary>The limits clients see: Kestrel's defaults.</summary>
    public const int MaxRequestLineBytes = 8 * 1024;
    public const int MaxRequestHeadersBytes = 32 * 1024;
    public const int MaxRequestHeaderCount = 100;

    /// <summary>Raises Kestrel's limits so that the middleware, not Kestrel, answers ordinary excess.</summary>
    public static IServiceCollection AddSunaivaHttpHardening(this IServiceCollection services) =>
        services.Configure<KestrelServerOptions>(o =>
        {
            o.Limits.MaxRequestLineSize = MaxRequestLineBytes * 8;
            o.Limits.MaxRequestHeadersTotalSize = MaxRequestHeadersBytes * 4;
            o.Limits.MaxRequestHeaderCount = MaxRequestHeaderCount * 4;
        });

    /// <summary>Request limits as ProblemDetails, and the browser-hardening headers of every HTML page.</summary>
    public static IApplicationBuilder UseSunaivaHttpHardening(this IApplicationBuilder app) =>
        app.UseMiddleware<RequestLimitsMiddleware>().UseMiddleware<HtmlSecurityHeadersMiddleware>();
}
