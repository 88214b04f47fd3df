using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Sunaiva.Integration;

/// <summary>How an outbound provider call ended.</summary>
public enum CallOutcome
{
    Ok,
    Error,
    Timeout,
    CircuitOpen,
    Fallback,
    Throttled,
}

/// <summary>One attempt at one provider: what it was, what it cost in units, how long it took, how it ended.</summary>
/// <remarks>Streams also say how long their first chunk took (<paramref name="FirstChunk"/>) and how many chunks came.</remarks>
public sealed record MeteredCall(
    string Capability,
    string Provider,
    string Operation,
    string Unit,
    decimal Units,
    TimeSpan Duration,
    CallOutcome Outcome,
    string? UserId,
    string? Error = null,
    TimeSpan? FirstChunk = null,
    long? Chunks = null);

/// <summary>Records provider calls. Must not block the caller: implementations buffer and write off the request path.</summary>
public interface IIntegrationMeter
{
    void Record(MeteredCall call);
}

/// <summary>The user an outbound call is made for, carried along the async flow.</summary>
public static class MeteringContext
{
    private static readonly AsyncLocal<string?> CurrentUser = new();

    public static string? UserId => CurrentUser.Value;

    /// <summary>Sets the user for calls made until the returned scope is disposed.</summary>
    public static IDisposable ForUser(string? userId)
    {
        var previous = CurrentUser.Value;
        CurrentUser.Value = userId;
        return new Restore(previous);
    }

    private sealed class Restore(string? previous) : IDisposable
    {
        public void Dispose() => CurrentUser.Value = previous;
    }
}

/// <summary>Meters every HTTP request of a provider's typed or named client as one "api-call".</summary>
public sealed class MeteringHttpHandler(IIntegrationMeter meter, string capability, string provider, TimeProvider time) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (ChainAttemptScope.Current is { } chainAttempt)
        {
            // Inside a provider chain the chain meters the attempt; this handler only passes on Retry-After.
            var answer = await base.SendAsync(request, cancellationToken);
            if (answer.StatusCode == System.Net.HttpStatusCode.TooManyRequests)
            {
                chainAttempt.RetryAfter = ProviderThrottledException.ReadRetryAfter(answer, time);
            }

            return answer;
        }

        var started = time.GetTimestamp();
        var operation = OperationName(request);
        try
        {
            var response = await base.SendAsync(request, cancellationToken);
            var outcome = (int)response.StatusCode switch
            {
                429 => CallOutcome.Throttled,
                >= 500 => CallOutcome.Error,
                _ => CallOutcome.Ok,
            };
            meter.Record(new MeteredCall(capability, provider, operation, "api-calls", 1, time.GetElapsedTime(started), outcome, MeteringContext.UserId,
                outcome == CallOutcome.Ok ? null : $"HTTP {(int)response.StatusCode}"));
            return response;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            var outcome = ex switch
            {
                TaskCanceledException or TimeoutException or Polly.Timeout.TimeoutRejectedException => CallOutcome.Timeout,
                Polly.CircuitBreaker.BrokenCircuitException => CallOutcome.CircuitOpen,
                _ => CallOutcome.Error,
            };
            meter.Record(new MeteredCall(capability, provider, operation, "api-calls", 1, time.GetElapsedTime(started), outcome, MeteringContext.UserId, ex.GetType().Name));
            throw;
        }
    }

    // "POST /v1/checkout/sessions" rather than the full path: ids in paths would explode the cardinality.
    private static string OperationName(HttpRequestMessage request)
    {
        var segments = request.RequestUri?.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries) ?? [];
        var kept = segments.TakeWhile(s => !s.Any(char.IsDigit) || s.Length <= 3).Take(3);
        return $"{request.Method.Method} /{string.Join('/', kept)}";
    }
}

/// <summary>Until the kernel's ledger is registered, calls are only traced.</summary>
internal sealed class ActivityOnlyMeter : IIntegrationMeter
{
    public void Record(MeteredCall call) =>
        Activity.Current?.AddEvent(new ActivityEvent("integration.call", tags: new ActivityTagsCollection
        {
            ["capability"] = call.Capability,
            ["provider"] = call.Provider,
            ["outcome"] = call.Outcome.ToString(),
        }));
}

public static class MeteringExtensions
{
    /// <summary>Meters every request of this HTTP client under the given capability and provider.</summary>
    public static IHttpClientBuilder AddProviderMetering(this IHttpClientBuilder builder, string capability, string provider)
    {
        builder.Services.TryAddSingleton<IIntegrationMeter, ActivityOnlyMeter>();
        return builder.AddHttpMessageHandler(sp => new MeteringHttpHandler(
            sp.GetRequiredService<IIntegrationMeter>(), capability, provider, sp.GetRequiredService<TimeProvider>()));
    }
}
