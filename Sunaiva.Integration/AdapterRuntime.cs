using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Simmy;
using Polly.Simmy.Fault;
using Polly.Simmy.Latency;
using Polly.Timeout;
using Sunaiva.ServiceDefaults.Ops;

namespace Sunaiva.Integration;

/// <summary>Health of one adapter as ops see it.</summary>
public sealed record AdapterHealth(
    string Capability,
    string Provider,
    string Circuit,
    double ErrorRate,
    int Sampled,
    string? LastError,
    DateTimeOffset? LastErrorAt,
    bool ChaosActive,
    DateTimeOffset? ThrottledUntil,
    DateTimeOffset? OpenUntil = null);

/// <summary>Every adapter's runtime state (pipelines, limiter, health), shared by all chains of the service.</summary>
public sealed class IntegrationRuntime : IProviderStatusSource, IDisposable
{
    private readonly ConcurrentDictionary<(string Capability, string Provider), AdapterRuntime> _adapters = new();
    private readonly ConcurrentDictionary<string, string> _primaries = new(StringComparer.OrdinalIgnoreCase);
    private readonly IntegrationOptions _options;
    private readonly ChaosControl _chaos;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public IntegrationRuntime(IOptions<IntegrationOptions> options, ChaosControl chaos, IntegrationTelemetry telemetry, TimeProvider time, ILogger<IntegrationRuntime> logger)
    {
        _logger = logger;
        _options = options.Value;
        _chaos = chaos;
        _time = time;
        telemetry.Meter.CreateObservableGauge("sunaiva.integration.circuit.state", ObserveCircuits, "{state}",
            "Circuit of each adapter: 0 closed, 1 open, 2 half-open, 3 isolated");
        telemetry.Meter.CreateObservableGauge("sunaiva.integration.error_rate", ObserveErrorRates, "1",
            "Share of the adapter's last attempts that failed");
    }

    internal AdapterRuntime Get(string capability, string provider) =>
        _adapters.GetOrAdd((capability, provider), static (key, self) =>
            new AdapterRuntime(key.Capability, key.Provider, self._options.ProviderOrDefault(key.Provider), self._chaos.For(key.Provider), self._time, self._logger), this);

    /// <summary>The first adapter of every chain set up so far.</summary>
    public IReadOnlyList<string> PrimaryProviders() => _primaries.Values.Distinct(StringComparer.OrdinalIgnoreCase).ToList();

    internal void RegisterChain(string capability, string primary) => _primaries[capability] = primary;

    /// <summary>Health of every adapter that has been set up, in a stable order.</summary>
    public IReadOnlyList<AdapterHealth> Snapshot() =>
        _adapters.Values.OrderBy(a => a.Capability, StringComparer.Ordinal).ThenBy(a => a.Provider, StringComparer.Ordinal).Select(a => a.Snapshot()).ToList();

    public IEnumerable<ProviderStatus> GetStatuses() => Snapshot().Select(h => new ProviderStatus(
        h.Capability,
        h.Provider,
        h.Circuit,
        $"error rate {h.ErrorRate * 100:0}% of last {h.Sampled}"
            + (h.OpenUntil is { } until ? $"; open until {until:O}" : string.Empty) + (h.LastError is null ? string.Empty : $"; last error {h.LastError} at {h.LastErrorAt:O}")
            + (h.ChaosActive ? "; chaos on" : string.Empty) + (h.ThrottledUntil is { } t ? $"; throttled until {t:O}" : string.Empty)));

    private IEnumerable<Measurement<int>> ObserveCircuits() => _adapters.Values.Select(a => new Measurement<int>(
        a.CircuitCode, new KeyValuePair<string, object?>("capability", a.Capability), new KeyValuePair<string, object?>("provider", a.Provider)));

    private IEnumerable<Measurement<double>> ObserveErrorRates() => _adapters.Values.Select(a => new Measurement<double>(
        a.Health.ErrorRate, new KeyValuePair<string, object?>("capability", a.Capability), new KeyValuePair<string, object?>("provider", a.Provider)));

    public void Dispose()
    {
        foreach (var adapter in _adapters.Values)
        {
            adapter.Dispose();
        }
    }
}

/// <summary>One adapter's guards: limiter, retry, circuit breaker, attempt timeout, chaos; and its health.</summary>
internal sealed partial class AdapterRuntime : IDisposable
{
    private readonly ResiliencePipeline? _retry;
    private readonly ResiliencePipeline _breaker;
    private readonly ResiliencePipeline _timeout;
    private readonly CircuitBreakerStateProvider _state = new();
    private readonly RateLimiter[] _limiters;
    private readonly PartitionedRateLimiter<string>[] _userLimiters;
    private readonly TimeProvider _time;
    private long _throttledUntilTicks;
    private long _breakEndsTicks;
    private CancellationTokenSource _opened = new();

    public AdapterRuntime(string capability, string provider, ProviderOptions options, ChaosState chaos, TimeProvider time, ILogger logger)
    {
        Capability = capability;
        Provider = provider;
        _time = time;
        Chaos = new AdapterChaos(provider, chaos, time);

        if (options.Retry.MaxRetries > 0)
        {
            _retry = new ResiliencePipelineBuilder { TimeProvider = time, Name = $"{capability}/{provider}/retry" }
                .AddRetry(new RetryStrategyOptions
                {
                    MaxRetryAttempts = options.Retry.MaxRetries,
                    Delay = options.Retry.BaseDelay,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && IsProviderFailure(ex)),
                })
                .Build();
        }

        _breaker = new ResiliencePipelineBuilder { TimeProvider = time, Name = $"{capability}/{provider}/breaker" }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = options.CircuitBreaker.FailureRatio,
                MinimumThroughput = options.CircuitBreaker.MinimumThroughput,
                SamplingDuration = options.CircuitBreaker.SamplingDuration,
                BreakDuration = options.CircuitBreaker.BreakDuration,
                StateProvider = _state,
                OnOpened = args =>
                {
                    LogOpened(logger, capability, provider, args.BreakDuration.TotalSeconds);
                    Interlocked.Exchange(ref _breakEndsTicks, (_time.GetUtcNow() + args.BreakDuration).UtcTicks);
                    // Attempts still waiting on a provider that just went down are abandoned, so their callers fall back now
                    // instead of waiting out the attempt timeout.
                    _ = Interlocked.Exchange(ref _opened, new CancellationTokenSource()).CancelAsync();
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    LogClosed(logger, capability, provider);
                    return ValueTask.CompletedTask;
                },
                OnHalfOpened = _ =>
                {
                    LogHalfOpened(logger, capability, provider);
                    return ValueTask.CompletedTask;
                },
                // Throttling means "slow down", not "down": it never opens the circuit.
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is { } ex && IsProviderFailure(ex)),
            })
            .Build();

        // The attempt timeout, shortened to what is left of the turn's latency budget when another adapter can serve.
        var attemptTimeout = options.AttemptTimeout;
        _timeout = new ResiliencePipelineBuilder { TimeProvider = time, Name = $"{capability}/{provider}/timeout" }
            .AddTimeout(new TimeoutStrategyOptions
            {
                Timeout = attemptTimeout,
                TimeoutGenerator = args =>
                {
                    if (!args.Context.Properties.TryGetValue(TurnEndsKey, out var ends))
                    {
                        return ValueTask.FromResult(attemptTimeout);
                    }

                    var left = ends - _time.GetUtcNow();
                    return ValueTask.FromResult(left >= attemptTimeout ? attemptTimeout : left > MinimumTimeout ? left : MinimumTimeout);
                },
            })
            .Build();

        var requestLimits = options.Limits.Where(l => string.Equals(l.Unit, "requests", StringComparison.OrdinalIgnoreCase)).ToList();
        _limiters = requestLimits.Where(l => !l.PerUser).Select(l => (RateLimiter)new TokenBucketRateLimiter(Bucket(l))).ToArray();
        _userLimiters = requestLimits.Where(l => l.PerUser)
            .Select(l => PartitionedRateLimiter.Create<string, string>(user => RateLimitPartition.GetTokenBucketLimiter(user, _ => Bucket(l))))
            .ToArray();
    }

    public string Capability { get; }

    public string Provider { get; }

    public AdapterChaos Chaos { get; }

    public HealthWindow Health { get; } = new();

    private static readonly ResiliencePropertyKey<DateTimeOffset> TurnEndsKey = new("sunaiva.turn-ends");
    private static readonly TimeSpan MinimumTimeout = TimeSpan.FromMilliseconds(1);

    public int CircuitCode => Circuit switch
    {
        CircuitState.Closed => 0,
        CircuitState.Open => 1,
        CircuitState.HalfOpen => 2,
        _ => 3,
    };

    /// <summary>
    /// The circuit as a caller would meet it now. Polly moves an open circuit to half-open only when the next call
    /// arrives; until then its state provider still says open, so an open circuit whose break has ended is reported
    /// half-open (the next call is the trial call).
    /// </summary>
    public CircuitState Circuit => _state.CircuitState is CircuitState.Open && BreakRemaining() == TimeSpan.Zero
        ? CircuitState.HalfOpen
        : _state.CircuitState;

    /// <summary>Cancelled when the circuit opens: attempts still waiting on this provider are abandoned.</summary>
    public CancellationToken AbandonToken => Volatile.Read(ref _opened).Token;

    /// <summary>Time until an open circuit may half-open (the rest of its break); zero when it is not open.</summary>
    public TimeSpan BreakRemaining()
    {
        if (_state.CircuitState is not CircuitState.Open)
        {
            return TimeSpan.Zero;
        }

        var left = new DateTimeOffset(Interlocked.Read(ref _breakEndsTicks), TimeSpan.Zero) - _time.GetUtcNow();
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    /// <summary>What counts against the breaker and is worth a retry: errors and attempt timeouts; not throttling, not cancellation.</summary>
    public static bool IsProviderFailure(Exception ex) => ex switch
    {
        ProviderThrottledException or BrokenCircuitException or IsolatedCircuitException => false,
        // The provider answered: it refused this input, which says nothing about its health.
        PermanentFailureException => false,
        // Cut by the chain's latency budget: the breaker counted the timeout already; the chain moves on, no retry here.
        LatencyBudgetSpentException => false,
        HttpRequestException { StatusCode: System.Net.HttpStatusCode.TooManyRequests } => false,
        TimeoutRejectedException => true,
        OperationCanceledException => false,
        _ => true,
    };

    /// <summary>Runs one adapter's turn: retry (idempotent only) around breaker around attempt timeout (not for streams).</summary>
    /// <param name="turnEnds">When the capability's latency budget for this turn runs out (only when another adapter can serve).</param>
    public ValueTask<T> ExecuteAsync<T>(ProviderOperation operation, IAttempt<T> attempt, DateTimeOffset? turnEnds, CancellationToken cancellationToken)
    {
        var guarded = new Guarded<T>(this, attempt, operation.Streaming, turnEnds);
        return operation.Idempotent && _retry is not null
            ? _retry.ExecuteAsync(static (g, ct) => g.RunAsync(ct), guarded, cancellationToken)
            : guarded.RunAsync(cancellationToken);
    }

    /// <summary>Runs the opening of a stream (up to its first chunk) inside the breaker: failures and stalls there count against it.</summary>
    public async ValueTask<bool> OpenStreamAsync(Func<CancellationToken, ValueTask<bool>> open, CancellationToken cancellationToken) =>
        await _breaker.ExecuteAsync(static (o, ct) => o(ct), open, cancellationToken);

    private sealed class Guarded<T>(AdapterRuntime runtime, IAttempt<T> attempt, bool streaming, DateTimeOffset? turnEnds)
    {
        private readonly AdapterRuntime _runtime = runtime;
        private readonly IAttempt<T> _attempt = attempt;

        public async ValueTask<T> RunAsync(CancellationToken cancellationToken)
        {
            using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _runtime.AbandonToken);
            if (streaming)
            {
                return await _runtime._breaker.ExecuteAsync(static (a, ct) => a.RunAsync(ct), _attempt, abandon.Token);
            }

            var context = ResilienceContextPool.Shared.Get(abandon.Token);
            try
            {
                if (turnEnds is { } ends)
                {
                    context.Properties.Set(TurnEndsKey, ends);
                }

                return await _runtime._breaker.ExecuteAsync(
                    static (ctx, g) => g._runtime._timeout.ExecuteAsync(static (ctx2, a) => a.RunAsync(ctx2.CancellationToken), ctx, g._attempt),
                    context,
                    this);
            }
            catch (TimeoutRejectedException ex) when (turnEnds is { } ends && _runtime._time.GetUtcNow() >= ends)
            {
                throw new LatencyBudgetSpentException(_runtime.Provider, ex);
            }
            finally
            {
                ResilienceContextPool.Shared.Return(context);
            }
        }
    }

    public TimeSpan ThrottledFor()
    {
        var until = Interlocked.Read(ref _throttledUntilTicks);
        if (until == 0)
        {
            return TimeSpan.Zero;
        }

        var left = new DateTimeOffset(until, TimeSpan.Zero) - _time.GetUtcNow();
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    public void ThrottleFor(TimeSpan wait) =>
        Interlocked.Exchange(ref _throttledUntilTicks, (_time.GetUtcNow() + wait).UtcTicks);

    /// <summary>A permit from every client-side limiter; null when the provider has none.</summary>
    public async ValueTask<RateLimitLease?> AcquireAsync(string? userId, CancellationToken cancellationToken)
    {
        if (_limiters.Length == 0 && _userLimiters.Length == 0)
        {
            return null;
        }

        var leases = new List<RateLimitLease>(_limiters.Length + _userLimiters.Length);
        foreach (var limiter in _limiters)
        {
            var lease = await limiter.AcquireAsync(1, cancellationToken);
            leases.Add(lease);
            if (!lease.IsAcquired)
            {
                return new CombinedLease(leases, lease);
            }
        }

        foreach (var limiter in _userLimiters)
        {
            var lease = await limiter.AcquireAsync(userId ?? "anonymous", 1, cancellationToken);
            leases.Add(lease);
            if (!lease.IsAcquired)
            {
                return new CombinedLease(leases, lease);
            }
        }

        return new CombinedLease(leases, null);
    }

    public AdapterHealth Snapshot()
    {
        var (rate, sampled, error, at) = Health.Read();
        var throttled = ThrottledFor();
        var circuit = Circuit;
        var openFor = circuit is CircuitState.Open ? BreakRemaining() : TimeSpan.Zero;
        return new AdapterHealth(Capability, Provider, CircuitName(circuit), rate, sampled, error, at, Chaos.Active,
            throttled > TimeSpan.Zero ? _time.GetUtcNow() + throttled : null,
            openFor > TimeSpan.Zero ? _time.GetUtcNow() + openFor : null);
    }

    public static string CircuitName(CircuitState state) => state switch
    {
        CircuitState.Closed => "closed",
        CircuitState.Open => "open",
        CircuitState.HalfOpen => "half-open",
        _ => "isolated",
    };

    public void Dispose()
    {
        _opened.Dispose();
        foreach (var limiter in _limiters)
        {
            limiter.Dispose();
        }

        foreach (var limiter in _userLimiters)
        {
            limiter.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Circuit of {Capability}/{Provider} opened for {BreakSeconds} s; calls go to the next adapter")]
    private static partial void LogOpened(ILogger logger, string capability, string provider, double breakSeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Circuit of {Capability}/{Provider} closed")]
    private static partial void LogClosed(ILogger logger, string capability, string provider);

    [LoggerMessage(Level = LogLevel.Information, Message = "Circuit of {Capability}/{Provider} half-open: trying one call")]
    private static partial void LogHalfOpened(ILogger logger, string capability, string provider);

    private static TokenBucketRateLimiterOptions Bucket(LimitEntry limit) => new()
    {
        TokenLimit = (int)Math.Min(limit.Permits, int.MaxValue),
        TokensPerPeriod = (int)Math.Min(limit.Permits, int.MaxValue),
        ReplenishmentPeriod = limit.Window,
        QueueLimit = limit.QueueLimit,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        AutoReplenishment = true,
    };

    private sealed class CombinedLease(List<RateLimitLease> leases, RateLimitLease? refused) : RateLimitLease
    {
        public override bool IsAcquired => refused is null;

        public override IEnumerable<string> MetadataNames => refused?.MetadataNames ?? [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return refused?.TryGetMetadata(metadataName, out metadata) ?? false;
        }

        protected override void Dispose(bool disposing)
        {
            foreach (var lease in leases)
            {
                lease.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>One metered attempt at an adapter.</summary>
internal interface IAttempt<T>
{
    ValueTask<T> RunAsync(CancellationToken cancellationToken);
}

/// <summary>Error rate over the adapter's last attempts, and its last error.</summary>
internal sealed class HealthWindow
{
    private const int Size = 100;
    private readonly bool[] _failures = new bool[Size];
    private readonly Lock _lock = new();
    private int _next;
    private int _count;
    private int _failed;
    private string? _lastError;
    private DateTimeOffset? _lastErrorAt;

    public double ErrorRate
    {
        get
        {
            lock (_lock)
            {
                return _count == 0 ? 0 : (double)_failed / _count;
            }
        }
    }

    public void Success() => Add(false, null, null);

    public void Failure(string error, DateTimeOffset at) => Add(true, error, at);

    public (double Rate, int Sampled, string? LastError, DateTimeOffset? At) Read()
    {
        lock (_lock)
        {
            return (_count == 0 ? 0 : (double)_failed / _count, _count, _lastError, _lastErrorAt);
        }
    }

    private void Add(bool failed, string? error, DateTimeOffset? at)
    {
        lock (_lock)
        {
            if (_count == Size)
            {
                if (_failures[_next])
                {
                    _failed--;
                }
            }
            else
            {
                _count++;
            }

            _failures[_next] = failed;
            _next = (_next + 1) % Size;
            if (failed)
            {
                _failed++;
                _lastError = error;
                _lastErrorAt = at;
            }
        }
    }
}
