using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Sunaiva.ServiceDefaults.RateLimiting;

/// <summary>
/// Inbound rate limiting with ASP.NET Core's rate limiter: one partition per user (<c>sub</c>) or, for anonymous
/// requests, per client IP. A refused request gets 429 ProblemDetails with <c>Retry-After</c>.
/// </summary>
public static partial class RateLimitingExtensions
{
    public static IHostApplicationBuilder AddSunaivaRateLimiting(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RateLimitingOptions>()
            .BindConfiguration(RateLimitingOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddRateLimiter(_ => { });
        builder.Services.AddOptions<RateLimiterOptions>()
            .Configure<IOptions<RateLimitingOptions>>((limiter, configured) =>
            {
                var options = configured.Value;
                limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
                limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context => Partition(context, options));
                limiter.OnRejected = (context, ct) => RejectAsync(context, options, ct);
            });
        return builder;
    }

    /// <summary>Adds the limiter to the pipeline; call after authentication, so the user is known.</summary>
    public static WebApplication UseSunaivaRateLimiting(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<RateLimitingOptions>>().Value.Enabled)
        {
            app.UseRateLimiter();
        }

        return app;
    }

    internal static RateLimitPartition<string> Partition(HttpContext context, RateLimitingOptions options)
    {
        var path = context.Request.Path;
        if (options.ExemptPaths.Any(prefix => path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase)))
        {
            return RateLimitPartition.GetNoLimiter("exempt");
        }

        var subject = context.User.Identity?.IsAuthenticated == true ? context.User.FindFirst("sub")?.Value : null;
        return subject is not null
            ? RateLimitPartition.GetFixedWindowLimiter("user:" + subject, _ => Window(options.PermitsPerUser, options.Window))
            : RateLimitPartition.GetFixedWindowLimiter("ip:" + (context.Connection.RemoteIpAddress?.ToString() ?? "unknown"), _ => Window(options.PermitsPerIp, options.Window));
    }

    private static FixedWindowRateLimiterOptions Window(int permits, TimeSpan window) => new()
    {
        PermitLimit = permits,
        Window = window,
        QueueLimit = 0,
        AutoReplenishment = true,
    };

    private static async ValueTask RejectAsync(OnRejectedContext context, RateLimitingOptions options, CancellationToken ct)
    {
        var http = context.HttpContext;
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : options.Window;
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var authenticated = http.User.Identity?.IsAuthenticated == true;
        LogRejected(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(RateLimitingExtensions)), authenticated ? "user" : "ip", seconds);

        var problems = http.RequestServices.GetRequiredService<IProblemDetailsService>();
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails =
            {
                Status = StatusCodes.Status429TooManyRequests,
                Title = "Too many requests",
                Detail = authenticated
                    ? $"This user sent more than {options.PermitsPerUser} requests in {options.Window}; retry after {seconds} s."
                    : $"This address sent more than {options.PermitsPerIp} requests in {options.Window}; retry after {seconds} s.",
            },
        });
    }

    // Neither the user id nor the address is logged: only which kind of limit refused the request.
    [LoggerMessage(Level = LogLevel.Warning, Message = "Request refused by the {Partition} rate limit; retry after {RetryAfterSeconds} s")]
    private static partial void LogRejected(ILogger logger, string partition, int retryAfterSeconds);
}
