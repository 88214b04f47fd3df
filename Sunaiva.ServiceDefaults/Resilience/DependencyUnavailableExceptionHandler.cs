using System.Net.Sockets;
using AmazonClientException = Amazon.Runtime.AmazonClientException;
using AmazonServiceException = Amazon.Runtime.AmazonServiceException;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace Sunaiva.ServiceDefaults.Resilience;

/// <summary>
/// A dependency that is down (Postgres, Redis, object storage, SMTP) is an outage, not a bug: answer 503
/// ProblemDetails with <c>Retry-After</c> and the dependency's name (never its address) instead of a 500.
/// </summary>
internal sealed partial class DependencyUnavailableExceptionHandler(IProblemDetailsService problems, ILogger<DependencyUnavailableExceptionHandler> logger) : IExceptionHandler
{
    /// <summary>Seconds a client should wait; the AppHost restarts a crashed server within a few seconds.</summary>
    public const int RetryAfterSeconds = 5;

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (httpContext.Response.HasStarted)
        {
            return false;
        }

        var dependency = Classify(exception);
        var timedOut = dependency is null && IsTimeout(exception, httpContext.RequestAborted);
        if (dependency is null && !timedOut)
        {
            return false;
        }

        LogUnavailable(logger, dependency ?? "a dependency (timed out)", exception.GetType().Name);
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var details = new ProblemDetails
        {
            Status = StatusCodes.Status503ServiceUnavailable,
            Title = "Dependency unavailable",
            Detail = dependency is null
                ? $"A dependency did not answer in time; retry after {RetryAfterSeconds} seconds."
                : $"{dependency} is not reachable right now; retry after {RetryAfterSeconds} seconds.",
        };
        if (dependency is not null)
        {
            details.Extensions["dependency"] = dependency;
        }

        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = details, Exception = exception });
    }

    /// <summary>The name of the dependency an exception shows to be down, or null when it is something else.</summary>
    internal static string? Classify(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                // A server error (unique violation, syntax) is a bug; only a lost or refused connection is an outage.
                case PostgresException pg when !IsOutage(pg):
                    return null;
                case NpgsqlException:
                    return ResourceNames.Postgres;
                case RedisConnectionException or RedisTimeoutException:
                    return ResourceNames.Redis;
                case AmazonServiceException aws when (int)aws.StatusCode is >= 500 or 0:
                    return ResourceNames.Storage;
                case AmazonClientException or AmazonServiceException when HasNetworkCause(current):
                    return ResourceNames.Storage;
                case MailKit.ServiceNotConnectedException or MailKit.ProtocolException or MailKit.Net.Smtp.SmtpCommandException { StatusCode: >= (MailKit.Net.Smtp.SmtpStatusCode)400 and < (MailKit.Net.Smtp.SmtpStatusCode)500 }:
                    return ResourceNames.Smtp;
                case HttpRequestException or SocketException or IOException or TimeoutException when FromLibrary(exception) is { } library:
                    return library;
            }
        }

        return null;
    }

    /// <summary>
    /// A wait that gave up while the caller was still there: a cancellation the request did not ask for (a client library
    /// cancels its pending commands when its connection resets, as StackExchange.Redis does while Redis hangs; a timeout of
    /// the service's own), or a resilience pipeline's timeout. An outage of something the request waited on, not a bug in
    /// it. (A cancellation because the client left never reaches here: the middleware answers it as a client disconnect.)
    /// </summary>
    internal static bool IsTimeout(Exception exception, CancellationToken requestAborted)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is Polly.Timeout.TimeoutRejectedException || current is OperationCanceledException && !requestAborted.IsCancellationRequested)
            {
                return true;
            }
        }

        return false;
    }

    // 57P0x: the server is shutting down or starting; 53xxx: out of resources; 08xxx: connection lost.
    private static bool IsOutage(PostgresException pg) =>
        pg.SqlState.StartsWith("57P", StringComparison.Ordinal) || pg.SqlState.StartsWith("53", StringComparison.Ordinal) || pg.SqlState.StartsWith("08", StringComparison.Ordinal);

    private static bool HasNetworkCause(Exception exception)
    {
        for (var inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is HttpRequestException or SocketException or IOException or TimeoutException or TaskCanceledException)
            {
                return true;
            }
        }

        return false;
    }

    // A bare socket or HTTP error names its dependency only through the library that threw it.
    private static string? FromLibrary(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            var trace = current.StackTrace ?? string.Empty;
            if (trace.Contains("Amazon.", StringComparison.Ordinal))
            {
                return ResourceNames.Storage;
            }

            if (trace.Contains("MailKit.", StringComparison.Ordinal))
            {
                return ResourceNames.Smtp;
            }

            if (trace.Contains("Npgsql.", StringComparison.Ordinal))
            {
                return ResourceNames.Postgres;
            }

            if (trace.Contains("StackExchange.Redis.", StringComparison.Ordinal))
            {
                return ResourceNames.Redis;
            }
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dependency {Dependency} unavailable ({ExceptionType}); answered 503")]
    private static partial void LogUnavailable(ILogger logger, string dependency, string exceptionType);
}

/// <summary>For handlers that catch I/O errors themselves: whether an exception shows a dependency down (answered 503).</summary>
public static class DependencyFailures
{
    public static bool IsOutage(Exception exception) => DependencyUnavailableExceptionHandler.Classify(exception) is not null;
}
