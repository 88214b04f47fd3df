using System.Net.Sockets;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;
using Npgsql;

namespace Sunaiva.Engagement.Infrastructure;

/// <summary>
/// Engagement's database unreachable (connection refused, timeout, the server shutting down) answers 503 ProblemDetails
/// with Retry-After, not 500: unsubscribe, preferences and tracking links are hit by mail clients that retry.
/// </summary>
internal sealed class DatabaseUnavailableExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!IsUnavailable(exception))
        {
            return false;
        }

        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = "30";
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails = new ProblemDetails
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Engagement's database is unavailable",
                Detail = "Try again shortly.",
            },
        });
    }

    private static bool IsUnavailable(Exception exception) => exception switch
    {
        NpgsqlException { IsTransient: true } => true,
        NpgsqlException { InnerException: SocketException or TimeoutException } => true,
        PostgresException { SqlState: "57P01" or "57P02" or "57P03" or "53300" } => true,
        _ => false,
    };
}
