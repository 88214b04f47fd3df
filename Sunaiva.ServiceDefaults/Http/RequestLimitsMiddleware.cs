using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;

namespace Sunaiva.ServiceDefaults.Http;

/// <summary>Answers 414 for a request line and 431 for headers past <see cref="HttpHardening"/>'s limits, as ProblemDetails.</summary>
internal sealed class RequestLimitsMiddleware(RequestDelegate next, IProblemDetailsService problems)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (Check(context) is { } problem)
        {
            context.Response.StatusCode = problem.Status!.Value;
            context.Response.Headers.Connection = "close";
            await problems.WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem });
            return;
        }

        await next(context);
    }

    private static ProblemDetails? Check(HttpContext context)
    {
        var request = context.Request;
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (request.PathBase + request.Path + request.QueryString).ToString();
        // "METHOD SP target SP HTTP/1.1 CRLF", as Kestrel counts it.
        if (request.Method.Length + target.Length + request.Protocol.Length + 4 > HttpHardening.MaxRequestLineBytes)
        {
            return new ProblemDetails
            {
                Status = StatusCodes.Status414UriTooLong,
                Title = "URI too long",
                Detail = $"The request line may have at most {HttpHardening.MaxRequestLineBytes} bytes.",
            };
        }

        var count = 0;
        long size = 0;
        foreach (var header in request.Headers)
        {
            foreach (var value in header.Value)
            {
                count++;
                size += header.Key.Length + (value?.Length ?? 0) + 4;
            }
        }

        if (count > HttpHardening.MaxRequestHeaderCount || size > HttpHardening.MaxRequestHeadersBytes)
        {
            return new ProblemDetails
            {
                Status = StatusCodes.Status431RequestHeaderFieldsTooLarge,
                Title = "Request headers too large",
                Detail = $"A request may have at most {HttpHardening.MaxRequestHeaderCount} headers of {HttpHardening.MaxRequestHeadersBytes} bytes in all.",
            };
        }

        return null;
    }
}
