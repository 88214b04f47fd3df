using System.Diagnostics;
using Microsoft.Extensions.Options;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Sunaiva.Integration;

/// <summary>One provider's implementation of a capability (ElevenLabs for "tts", espeak-ng for "tts", ...).</summary>
public interface IProviderAdapter
{
    /// <summary>The provider's name as the price book, limits and chaos settings know it.</summary>
    string Provider { get; }

    /// <summary>False when the adapter cannot serve at all (no API key configured): the chain skips it without a call.</summary>
    bool IsAvailable => true;
}

/// <summary>What a chain call does: its name for metering, its billable unit, and how it may be guarded.</summary>
/// <param name="Name">Operation name, low cardinality ("synthesize", "send", "render").</param>
/// <param name="Unit">Billable unit the adapter reports through <see cref="ProviderCallContext.Units"/>.</param>
/// <param name="Idempotent">Only idempotent operations are retried inside an adapter.</param>
/// <param name="Streaming">Streams have no attempt timeout; the chain's streaming deadline applies.</param>
public sealed record ProviderOperation(string Name, string Unit = "api-calls", bool Idempotent = false, bool Streaming = false);

/// <summary>Per attempt: which adapter runs, and where it reports the units it consumed.</summary>
public sealed class ProviderCallContext
{
    internal ProviderCallContext(string capability, string provider, int attempt, string? userId, string unit)
    {
        Unit = unit;
        Capability = capability;
        Provider = provider;
        Attempt = attempt;
        UserId = userId;
    }

    public string Capability { get; }

    public string Provider { get; }

    /// <summary>1 for the first attempt at this adapter, 2+ for retries.</summary>
    public int Attempt { get; }

    public string? UserId { get; }

    /// <summary>Billable units consumed by this attempt (characters, tokens, seconds, emails, ...).</summary>
    public decimal Units { get; set; }

    /// <summary>The unit <see cref="Units"/> counts; the operation's unit unless the adapter bills in another (e.g. tokens vs characters).</summary>
    public string Unit { get; set; }
}

/// <summary>One attempt at one adapter within a chain call.</summary>
public sealed record ChainAttempt(string Provider, CallOutcome Outcome, TimeSpan Duration, string? Error);

/// <summary>A chain's answer: the value, who served it, how many adapters were tried, whether it is degraded.</summary>
public sealed record ChainResult<T>(T Value, string Capability, string Provider, int AdaptersTried, bool Degraded, IReadOnlyList<ChainAttempt> Attempts);

/// <summary>A provider refused the call for rate or quota reasons (HTTP 429 or a quota error); not a sign it is down.</summary>
public sealed class ProviderThrottledException : Exception
{
    public ProviderThrottledException(string provider, TimeSpan? retryAfter, string? message = null, Exception? inner = null)
        : base(message ?? $"{provider} throttled the call", inner)
    {
        Provider = provider;
        RetryAfter = retryAfter;
    }

    public ProviderThrottledException()
        : this("unknown", (TimeSpan?)null)
    {
    }

    public ProviderThrottledException(string message)
        : this("unknown", (TimeSpan?)null, message)
    {
    }

    public ProviderThrottledException(string message, Exception inner)
        : this("unknown", (TimeSpan?)null, message, inner)
    {
    }

    public string Provider { get; }

    public TimeSpan? RetryAfter { get; }

    /// <summary>Reads <c>Retry-After</c> (seconds or HTTP date) from a response.</summary>
    public static TimeSpan? ReadRetryAfter(HttpResponseMessage response, TimeProvider time)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - time.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }
}

/// <summary>Thrown by Polly chaos when a fault is injected into an adapter.</summary>
public sealed class ChaosInjectedException : Exception
{
    public ChaosInjectedException(string provider)
        : base($"Chaos: injected fault for {provider}")
    {
    }

    public ChaosInjectedException()
        : base("Chaos: injected fault")
    {
    }

    public ChaosInjectedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>
/// Set while a chain attempt runs: HTTP metering inside it leaves the row to the chain (one row per attempt)
/// and hands over the provider's Retry-After.
/// </summary>
internal sealed class ChainAttemptScope
{
    private static readonly AsyncLocal<ChainAttemptScope?> CurrentScope = new();

    public static ChainAttemptScope? Current => CurrentScope.Value;

    public TimeSpan? RetryAfter { get; set; }

    /// <summary>Enters a scope for the rest of the calling async method (and what it awaits).</summary>
    public static ChainAttemptScope Enter()
    {
        var scope = new ChainAttemptScope();
        CurrentScope.Value = scope;
        return scope;
    }
}

/// <summary>No adapter of a chain could serve the call.</summary>
public sealed class ProviderChainException : Exception
{
    public ProviderChainException(string capability, bool deadlineExceeded, IReadOnlyList<ChainAttempt> attempts, TimeSpan? retryAfter, Exception? last, bool unavailable = false)
        : base(deadlineExceeded
            ? $"The {capability} chain ran out of time after {attempts.Count} attempt(s)"
            : unavailable
                ? $"No {capability} provider is available now: every circuit open or every adapter throttled ({attempts.Count} attempt(s))"
                : $"No {capability} provider could serve the call ({attempts.Count} attempt(s))", last)
    {
        Capability = capability;
        DeadlineExceeded = deadlineExceeded;
        Attempts = attempts;
        RetryAfter = retryAfter;
        Unavailable = unavailable;
    }

    public ProviderChainException()
        : this("unknown", false, [], null, null)
    {
    }

    public ProviderChainException(string message)
        : base(message)
    {
        Capability = "unknown";
        Attempts = [];
    }

    public ProviderChainException(string message, Exception inner)
        : base(message, inner)
    {
        Capability = "unknown";
        Attempts = [];
    }

    public string Capability { get; }

    public bool DeadlineExceeded { get; }

    public IReadOnlyList<ChainAttempt> Attempts { get; }

    /// <summary>
    /// How long until an adapter may accept calls again: the shortest Retry-After of the throttled adapters and the
    /// shortest remaining break of the open circuits. Null when no adapter was skipped for either reason.
    /// </summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>
    /// True when no adapter failed: every attempt met an open circuit or throttling (a Retry-After wait, the client-side
    /// limiter, or a 429), so the call never reached a provider that could have done the work. Durable work delays such
    /// a call by <see cref="RetryAfter"/> without spending a delivery attempt.
    /// </summary>
    public bool Unavailable { get; }
}

/// <summary>
/// The ordered adapters of one capability. Each adapter runs behind its own pipeline (client-side rate limiter,
/// retry for idempotent operations, circuit breaker, attempt timeout, chaos); the whole call runs under one deadline;
/// when an adapter fails, times out, is throttled or has its circuit open, the next one serves. Every attempt is metered.
/// </summary>
public sealed partial class ProviderChain<TAdapter>
    where TAdapter : class, IProviderAdapter
{
    private readonly TAdapter[] _adapters;
    private readonly AdapterRuntime[] _runtimes;
    private readonly IIntegrationMeter _meter;
    private readonly TimeProvider _time;
    private readonly CapabilityOptions _options;

    internal ProviderChain(string capability, IEnumerable<TAdapter> registered, IntegrationRuntime runtime, IIntegrationMeter meter, IOptions<IntegrationOptions> options, TimeProvider time)
    {
        Capability = capability;
        _meter = meter;
        _time = time;
        var all = registered.ToList();
        _options = options.Value.Capabilities.TryGetValue(capability, out var configured) ? configured : new CapabilityOptions();
        var order = _options.Adapters;
        _adapters = order.Count == 0
            ? all.ToArray()
            : order.Select(name => all.FirstOrDefault(a => string.Equals(a.Provider, name, StringComparison.OrdinalIgnoreCase)))
                .Where(a => a is not null)
                .Select(a => a!)
                .ToArray();
        if (_adapters.Length == 0)
        {
            throw new InvalidOperationException(
                $"The {capability} chain has no adapters: Integration:Capabilities:{capability}:Adapters names [{string.Join(", ", order)}], registered are [{string.Join(", ", all.Select(a => a.Provider))}].");
        }

        _runtimes = _adapters.Select(a => runtime.Get(capability, a.Provider)).ToArray();
        runtime.RegisterChain(capability, _adapters[0].Provider);
    }

    public string Capability { get; }

    /// <summary>Adapters in the order they are tried.</summary>
    public IReadOnlyList<TAdapter> Adapters => _adapters;

    /// <summary>Runs <paramref name="call"/> on the first adapter able to serve it.</summary>
    /// <exception cref="ProviderChainException">No adapter served the call before the deadline.</exception>
    public async Task<ChainResult<T>> ExecuteAsync<T>(
        ProviderOperation operation,
        Func<TAdapter, ProviderCallContext, CancellationToken, ValueTask<T>> call,
        CancellationToken cancellationToken)
    {
        using var activity = IntegrationTelemetry.ActivitySource.StartActivity($"{Capability} {operation.Name}", ActivityKind.Internal);
        activity?.SetTag("sunaiva.capability", Capability);
        var deadline = operation.Streaming ? _options.StreamingDeadline : _options.Deadline;
        using var deadlineSource = new CancellationTokenSource(deadline, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadlineSource.Token);
        var token = linked.Token;

        var userId = MeteringContext.UserId;
        var attempts = new List<ChainAttempt>(2);
        var tried = 0;
        Exception? last = null;
        TimeSpan? earliestRetry = null;
        var failed = false;

        for (var i = 0; i < _adapters.Length; i++)
        {
            var adapter = _adapters[i];
            if (!adapter.IsAvailable)
            {
                continue;
            }

            if (token.IsCancellationRequested)
            {
                break;
            }

            tried++;
            var runtime = _runtimes[i];
            // With another adapter behind this one, a hanging provider costs the caller at most the latency budget.
            DateTimeOffset? turnEnds = !operation.Streaming && HasSuccessor(i) ? _time.GetUtcNow() + _options.LatencyBudget : null;
            var attempt = new AttemptState<T>(this, adapter, runtime, operation, call, userId, attempts, cancellationToken) { TurnEnds = turnEnds };

            var blockedFor = runtime.ThrottledFor();
            if (blockedFor > TimeSpan.Zero)
            {
                attempt.Record(CallOutcome.Throttled, TimeSpan.Zero, 0, "waiting for Retry-After");
                earliestRetry = Min(earliestRetry, blockedFor);
                continue;
            }

            System.Threading.RateLimiting.RateLimitLease? lease;
            try
            {
                lease = await runtime.AcquireAsync(userId, token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                attempt.Record(CallOutcome.Throttled, TimeSpan.Zero, 0, "deadline reached waiting for a rate-limit permit");
                break;
            }

            using var held = lease;
            if (lease is { IsAcquired: false })
            {
                attempt.Record(CallOutcome.Throttled, TimeSpan.Zero, 0, "client-side rate limit");
                earliestRetry = Min(earliestRetry, lease.TryGetMetadata(System.Threading.RateLimiting.MetadataName.RetryAfter, out var ra) ? ra : TimeSpan.FromSeconds(1));
                continue;
            }

            try
            {
                var value = await runtime.ExecuteAsync(operation, attempt, turnEnds, token);
                activity?.SetTag("sunaiva.provider", adapter.Provider);
                var degraded = attempts.Exists(a => !string.Equals(a.Provider, adapter.Provider, StringComparison.Ordinal));
                activity?.SetTag("sunaiva.degraded", degraded);
                return new ChainResult<T>(value, Capability, adapter.Provider, tried, degraded, attempts);
            }
            catch (Exception ex) when (ex is BrokenCircuitException or IsolatedCircuitException)
            {
                attempt.Record(CallOutcome.CircuitOpen, TimeSpan.Zero, 0, "circuit open");
                earliestRetry = Min(earliestRetry, OpenFor(runtime));
                failed |= attempt.Invoked;
                last = ex;
            }
            catch (ProviderThrottledException ex)
            {
                var wait = ex.RetryAfter ?? TimeSpan.FromSeconds(1);
                runtime.ThrottleFor(wait);
                earliestRetry = Min(earliestRetry, wait);
                last = ex;
            }
            catch (PermanentFailureException)
            {
                // The provider refused this input: another provider would too. Metered as "rejected"; the caller decides.
                activity?.SetStatus(ActivityStatusCode.Error, "rejected");
                throw;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                activity?.SetStatus(ActivityStatusCode.Error, "canceled");
                throw;
            }
            catch (Exception ex)
            {
                // Attempt timeouts and provider errors were metered inside the attempt; try the next adapter.
                failed = true;
                last = ex;
            }
        }

        throw ChainFailed(activity, deadlineSource, attempts, earliestRetry, last, tried > 0 && !failed);
    }

    private ProviderChainException ChainFailed(Activity? activity, CancellationTokenSource deadlineSource, List<ChainAttempt> attempts, TimeSpan? earliestRetry, Exception? last, bool unavailable)
    {
        var deadlineHit = deadlineSource.IsCancellationRequested;
        activity?.SetStatus(ActivityStatusCode.Error, deadlineHit ? "deadline" : unavailable ? "unavailable" : "all adapters failed");
        return new ProviderChainException(Capability, deadlineHit, attempts, earliestRetry,
            last is TimeoutRejectedException or OperationCanceledException or TimeoutException ? null : last, unavailable);
    }

    private bool HasSuccessor(int index)
    {
        for (var j = index + 1; j < _adapters.Length; j++)
        {
            if (_adapters[j].IsAvailable)
            {
                return true;
            }
        }

        return false;
    }

    // The rest of the break; a circuit whose break has ended is half-open with a trial call in flight: ask again shortly.
    private static TimeSpan OpenFor(AdapterRuntime runtime) => runtime.BreakRemaining() is { } left && left > TimeSpan.Zero ? left : TimeSpan.FromSeconds(1);

    private static TimeSpan? Min(TimeSpan? a, TimeSpan b) => a is null || b < a ? b : a;

    /// <summary>One adapter's turn: runs the call (and its retries), meters every attempt.</summary>
    internal sealed class AttemptState<T>(
        ProviderChain<TAdapter> chain,
        TAdapter adapter,
        AdapterRuntime runtime,
        ProviderOperation operation,
        Func<TAdapter, ProviderCallContext, CancellationToken, ValueTask<T>> call,
        string? userId,
        List<ChainAttempt> attempts,
        CancellationToken callerToken) : IAttempt<T>
    {
        private readonly TAdapter _adapter = adapter;
        private readonly Func<TAdapter, ProviderCallContext, CancellationToken, ValueTask<T>> _call = call;
        private int _attempt;

        /// <summary>When the latency budget of this adapter's turn runs out; null when it is the last adapter.</summary>
        public DateTimeOffset? TurnEnds { get; init; }

        /// <summary>The adapter was called at least once (not only refused by its circuit).</summary>
        public bool Invoked => Volatile.Read(ref _attempt) > 0;

        public async ValueTask<T> RunAsync(CancellationToken cancellationToken)
        {
            var scope = ChainAttemptScope.Enter();
            var context = new ProviderCallContext(chain.Capability, _adapter.Provider, Interlocked.Increment(ref _attempt), userId, operation.Unit);
            var started = chain._time.GetTimestamp();
            try
            {
                var value = await runtime.Chaos.RunAsync(context, static (s, c, ct) => s._call(s._adapter, c, ct), this, cancellationToken);
                // A success after another adapter failed is a fallback: the user got a degraded answer.
                var fallback = attempts.Exists(a => !string.Equals(a.Provider, _adapter.Provider, StringComparison.Ordinal));
                Record(fallback ? CallOutcome.Fallback : CallOutcome.Ok, chain._time.GetElapsedTime(started), context.Units, null, context.Unit);
                runtime.Health.Success();
                return value;
            }
            catch (PermanentFailureException)
            {
                // Not the provider's health: no health-window failure; the breaker and retry ignore it too.
                Record(CallOutcome.Error, chain._time.GetElapsedTime(started), context.Units, CallErrors.Rejected, context.Unit);
                throw;
            }
            catch (Exception ex)
            {
                var outcome = Classify(ex, callerToken);
                var description = outcome == CallOutcome.Timeout && TurnEnds is { } ends && chain._time.GetUtcNow() >= ends ? CallErrors.LatencyBudget : Describe(ex, outcome);
                Record(outcome, chain._time.GetElapsedTime(started), context.Units, description, context.Unit);
                if (outcome is not CallOutcome.Throttled && !callerToken.IsCancellationRequested)
                {
                    runtime.Health.Failure(description, chain._time.GetUtcNow());
                }

                if (outcome == CallOutcome.Throttled && ex is not ProviderThrottledException { RetryAfter: not null })
                {
                    throw new ProviderThrottledException(_adapter.Provider, (ex as ProviderThrottledException)?.RetryAfter ?? scope.RetryAfter, ex.Message, ex);
                }

                throw;
            }
        }

        public void Record(CallOutcome outcome, TimeSpan duration, decimal units, string? error, string? unit = null)
        {
            attempts.Add(new ChainAttempt(_adapter.Provider, outcome, duration, error));
            chain._meter.Record(new MeteredCall(chain.Capability, _adapter.Provider, operation.Name, unit ?? operation.Unit, units, duration, outcome, userId, error));
        }

        private static CallOutcome Classify(Exception ex, CancellationToken callerToken) => ChainClassify(ex, callerToken);
    }

    private static CallOutcome ChainClassify(Exception ex, CancellationToken callerToken) => ex switch
    {
        ProviderThrottledException => CallOutcome.Throttled,
        HttpRequestException { StatusCode: System.Net.HttpStatusCode.TooManyRequests } => CallOutcome.Throttled,
        OperationCanceledException when callerToken.IsCancellationRequested => CallOutcome.Error,
        OperationCanceledException or TimeoutException or TimeoutRejectedException => CallOutcome.Timeout,
        _ => CallOutcome.Error,
    };

    // Exception types and HTTP status only: provider messages may echo request content or keys.
    private static string Describe(Exception ex, CallOutcome outcome) => ex switch
    {
        _ when outcome == CallOutcome.Timeout => "timeout",
        OperationCanceledException => "canceled",
        HttpRequestException { StatusCode: { } status } => $"HTTP {(int)status}",
        ChaosInjectedException => "chaos fault",
        _ => ex.GetType().Name,
    };
}
