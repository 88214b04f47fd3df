using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Sunaiva.ServiceDefaults.Storage;

/// <summary>
/// Object storage that hangs fails fast. Every request of this process to storage (the SDK client's and the streamed puts)
/// passes one circuit breaker (Polly's, through Microsoft.Extensions.Http.Resilience's <see cref="ResilienceHandler"/>):
/// once <see cref="MinimumThroughput"/> requests in <see cref="SamplingDuration"/> failed at least half the time (no
/// connection, a reset, a 5xx, no answer within <see cref="AttemptTimeout"/>), requests are refused at once for
/// <see cref="BreakDuration"/>, then one goes through to try storage again. A refused request fails as storage being down
/// (503 with <c>Retry-After</c>, <c>DependencyUnavailableExceptionHandler</c>), instead of each one waiting out the SDK's
/// timeout and retries: with storage stopped (<c>SIGSTOP</c>), a 22-byte upload answered 503 after 120 s, and every one
/// after it as late.
/// The SDK client's requests also get <see cref="AttemptTimeout"/> each inside the breaker (as a Polly timeout, which the
/// breaker can count; the HttpClient's own timeout, 30 s before, is a cancellation it cannot tell from a caller leaving).
/// The SDK retries a failed attempt, so with storage hung the first request fails after two timeouts (the circuit opens
/// on the second and refuses the third), every one after it at once, and one every <see cref="BreakDuration"/> tries again
/// with <see cref="TrialTimeout"/> (so storage that is back is used again within 20 s).
/// A request its caller cancels counts as a success to Polly's breaker (it cannot tell a caller leaving from storage being
/// slow), so a caller with a deadline of its own sets it here (<see cref="AttemptTimeoutOf"/>) rather than cancelling: the
/// readiness probe does (<see cref="StorageHealthCheck"/>). Through the AppHost with storage stopped, its probe every 10 s,
/// cancelled by the 5 s health-check timeout, was counted as a success each time and the circuit never opened (every upload
/// waited three timeouts, 45 s).
/// 15 s is a part of 8 MiB sent at 0.5 MB/s. A streamed put
/// keeps its own idle deadline (<see cref="StreamingPut"/>): its body arrives as fast as its sender sends it.
/// Wall-clock time on purpose (not the app's TimeProvider, which tests move ahead): this bounds network waits.
/// </summary>
public sealed class StorageCircuit
{
    /// <summary>How long one request to storage may take until its answer starts (the SDK client's; as its Timeout was).</summary>
    public static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The window failures are counted in: long enough for a few timed-out requests one after the other.</summary>
    public static readonly TimeSpan SamplingDuration = TimeSpan.FromSeconds(120);

    public const int MinimumThroughput = 2;

    /// <summary>
    /// Longer than an attempt's timeout: with 5 s, measured through the AppHost with storage stopped, every upload found the
    /// circuit half-open again by its SDK retry and waited three timeouts (45 s); with 20 s one request in 20 s probes.
    /// </summary>
    public static readonly TimeSpan BreakDuration = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The attempt timeout of the one request let through after a break to try storage again (unless its caller set its
    /// own, <see cref="AttemptTimeoutOf"/>): with <see cref="AttemptTimeout"/>, an upload that happened to be the trial waited 15 s every 20 s with
    /// storage still stopped. Enough for storage that answers at all to start its answer.
    /// </summary>
    public static readonly TimeSpan TrialTimeout = TimeSpan.FromSeconds(5);

    // The deadline of one attempt set by the caller's flow (AttemptTimeoutOf), else the trial's or the circuit's own.
    private static readonly AsyncLocal<TimeSpan?> ScopedAttemptTimeout = new();

    private readonly ResiliencePipeline<HttpResponseMessage> _breaker;
    private readonly ResiliencePipeline<HttpResponseMessage> _timeout;

    private readonly CircuitBreakerStateProvider _state = new();

    public StorageCircuit(TimeSpan? attemptTimeout = null, TimeSpan? breakDuration = null, TimeSpan? trialTimeout = null)
    {
        var attempt = attemptTimeout ?? AttemptTimeout;
        var trial = TimeSpan.FromTicks(Math.Min((trialTimeout ?? TrialTimeout).Ticks, attempt.Ticks));
        _breaker = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = TimeProvider.System }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                FailureRatio = 0.5,
                MinimumThroughput = MinimumThroughput,
                SamplingDuration = SamplingDuration,
                BreakDuration = breakDuration ?? BreakDuration,
                StateProvider = _state,
                ShouldHandle = static args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: HttpRequestException or TimeoutRejectedException } => true,
                    { Result: { } response } => (int)response.StatusCode >= 500,
                    _ => false,
                }),
            })
            .Build();
        _timeout = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = TimeProvider.System }
            .AddTimeout(new TimeoutStrategyOptions
            {
                TimeoutGenerator = _ => ValueTask.FromResult(
                    ScopedAttemptTimeout.Value ?? (_state.CircuitState == CircuitState.HalfOpen ? trial : attempt)),
            })
            .Build();
    }

    /// <summary>Whether the circuit refuses requests now (open, or one request trying storage again), for status reports.</summary>
    public bool Refusing => _state.CircuitState != CircuitState.Closed;

    /// <summary>
    /// Until the result is disposed, every SDK request to storage made by this flow (and the flows it starts) is given up
    /// after <paramref name="timeout"/> per attempt, as a timeout the breaker counts, instead of <see cref="AttemptTimeout"/>.
    /// </summary>
    public static IDisposable AttemptTimeoutOf(TimeSpan timeout)
    {
        var outer = ScopedAttemptTimeout.Value;
        ScopedAttemptTimeout.Value = timeout;
        return new Scope(outer);
    }

    private sealed class Scope(TimeSpan? outer) : IDisposable
    {
        public void Dispose() => ScopedAttemptTimeout.Value = outer;
    }

    /// <summary>The breaker, then the attempt timeout: for the SDK client, whose HttpClient then has no timeout of its own.</summary>
    public DelegatingHandler BreakerAndTimeout(HttpMessageHandler inner) =>
        new ResilienceHandler(_breaker) { InnerHandler = new ResilienceHandler(_timeout) { InnerHandler = inner } };

    /// <summary>The breaker alone, for streamed puts (they keep their own idle deadline).</summary>
    public DelegatingHandler Breaker(HttpMessageHandler inner) => new ResilienceHandler(_breaker) { InnerHandler = inner };

    /// <summary>
    /// The circuit's refusals and timeouts as the network failures they stand for (an <see cref="HttpRequestException"/>
    /// holding them): the SDK handles them as it handles a lost connection, and every caller that tells storage being
    /// down by its exception (the vault, the TTS cache, the sweepers, <c>DependencyUnavailableExceptionHandler</c>) does too.
    /// </summary>
    public static DelegatingHandler AsNetworkFailures(HttpMessageHandler inner) => new NetworkFailures { InnerHandler = inner };

    private sealed class NetworkFailures : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            try
            {
                return await base.SendAsync(request, cancellationToken);
            }
            catch (BrokenCircuitException ex)
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError, "Object storage is taken to be down after failed requests (its circuit is open).", ex);
            }
            catch (TimeoutRejectedException ex)
            {
                throw new HttpRequestException(HttpRequestError.Unknown, "Object storage did not answer in time.", ex);
            }
        }
    }
}
