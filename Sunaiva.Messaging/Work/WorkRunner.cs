using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.ServiceDefaults;
using Sunaiva.Integration;

namespace Sunaiva.Messaging.Work;

/// <summary>
/// Works the service's <c>work_items</c>: claims due items by lease in a short transaction, runs each handler with no
/// transaction or lock held, renews leases while handlers run, and records the outcome in a second short transaction.
/// A failure is this item's alone: it is retried with its kind's back-off, or dead-lettered; an open circuit or a
/// <see cref="RetryLaterException"/> delays the item without spending an attempt.
/// </summary>
public sealed partial class WorkRunner : BackgroundService
{
    public static readonly ActivitySource ActivitySource = new("Sunaiva.Work");
    private static readonly Meter Meter = new("Sunaiva.Work");
    private static readonly Counter<long> Finished = Meter.CreateCounter<long>("sunaiva.work.finished", description: "Work items finished, by kind and outcome");
    private static readonly Histogram<double> Lag = Meter.CreateHistogram<double>("sunaiva.work.lag", "ms", "From due to started");

    private readonly WorkStore _store;
    private readonly NpgsqlDataSource _dataSource;
    private readonly WorkSignal _signal;
    private readonly WorkOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<WorkRunner> _logger;
    private readonly Dictionary<string, IWorkHandler> _handlers;
    private readonly ConcurrentDictionary<long, byte> _running = new();
    private readonly CommitRepolls _repolls;
    private DateTimeOffset _lastPurge = DateTimeOffset.MinValue;

    public WorkRunner(
        WorkStore store,
        NpgsqlDataSource dataSource,
        WorkSignal signal,
        IEnumerable<IWorkHandler> handlers,
        IOptions<WorkOptions> options,
        ServiceIdentity identity,
        TimeProvider time,
        ILogger<WorkRunner> logger)
    {
        _store = store;
        _dataSource = dataSource;
        _signal = signal;
        _repolls = new CommitRepolls(signal, 6); // 10, 20, 40 ... 320 ms
        _options = options.Value;
        _time = time;
        _logger = logger;
        _handlers = new Dictionary<string, IWorkHandler>(StringComparer.Ordinal);
        foreach (var handler in handlers)
        {
            if (!_handlers.TryAdd(handler.Kind, handler))
            {
                throw new InvalidOperationException($"Two work handlers claim the kind '{handler.Kind}'.");
            }
        }

        Owner = $"{identity.Name}-{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";
    }

    /// <summary>This runner's lease owner name.</summary>
    public string Owner { get; }

    public IReadOnlyCollection<string> Kinds => _handlers.Keys;

    /// <summary>Runs after a handler returned, before its item is marked done (a seam for crash tests).</summary>
    internal Func<WorkItem, Task>? BeforeFinish { get; set; }

    /// <summary>Runs after an item is claimed, before its handler (a seam for crash tests).</summary>
    internal Func<WorkItem, Task>? BeforeHandle { get; set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_handlers.Count == 0)
        {
            return;
        }

        var renewal = RenewLeasesAsync(stoppingToken);
        var inFlight = new ConcurrentDictionary<Task, byte>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // While every slot is busy, each finished item would otherwise cost a claim transaction of its own: wait
                // until a quarter of the slots are free, so one claim takes several items. An idle runner claims at once.
                var free = _options.Concurrency - _running.Count;
                var claimAt = _running.IsEmpty ? 1 : Math.Max(1, _options.Concurrency / 4);
                // Work enqueued inside a transaction signals before its commit: after such a signal, look again soon.
                _repolls.BeforeClaim();
                var claimed = free >= claimAt ? await _store.ClaimAsync(Owner, free, _options.Lease, stoppingToken) : [];
                foreach (var item in claimed)
                {
                    _running[item.Id] = 0;
                    var run = RunOneAsync(item, stoppingToken);
                    inFlight[run] = 0;
                    _ = run.ContinueWith(
                        t =>
                        {
                            inFlight.TryRemove(t, out _);
                            _running.TryRemove(item.Id, out _);
                            _signal.NotifyCommitted();
                        },
                        CancellationToken.None,
                        TaskContinuationOptions.ExecuteSynchronously,
                        TaskScheduler.Default);
                }

                if (claimed.Count > 0)
                {
                    // What a committed signal announced (committed work, or a slot freed) was found: no re-polls after it.
                    _repolls.Found();
                }

                if (claimed.Count == 0 && _repolls.NextDelay() is { } delay)
                {
                    // The re-polls only bridge a commit, so they run on the real clock even when the service's clock is
                    // another (a test's fake clock that does not move would otherwise hold committed work until the next signal).
                    await _signal.WaitAsync(delay, TimeProvider.System, stoppingToken);
                }
                else if (claimed.Count == 0 || claimed.Count < free)
                {
                    // Nothing claimed (also when every slot is busy: a finished item's signal wakes this, so the loop
                    // never spins), or less than asked for: wait. A claim that filled every free slot claims again at once.
                    await _signal.WaitAsync(_options.PollInterval, _time, stoppingToken);
                }

                await PurgeIfDueAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogLoopFailed(_logger, ex);
                // A pause, not business time: on the real clock, so a test's standing clock cannot stop the loop for good.
                await DelayQuietlyAsync(TimeSpan.FromSeconds(1), TimeProvider.System, stoppingToken);
            }
        }

        await Task.WhenAll(inFlight.Keys);
        await renewal;
    }

    /// <summary>Claims and runs due items once, waiting for them (for tests and tools); returns how many ran.</summary>
    public async Task<int> RunDueOnceAsync(CancellationToken cancellationToken)
    {
        var claimed = await _store.ClaimAsync(Owner, _options.Concurrency, _options.Lease, cancellationToken);
        await Task.WhenAll(claimed.Select(i => RunOneAsync(i, cancellationToken)));
        return claimed.Count;
    }

    private async Task RunOneAsync(WorkItem item, CancellationToken stoppingToken)
    {
        await Task.Yield();
        var parent = item.TraceParent is { } tp && ActivityContext.TryParse(tp, null, out var context) ? context : default;
        using var activity = ActivitySource.StartActivity($"work {item.Kind}", ActivityKind.Consumer, parent);
        activity?.SetTag("sunaiva.work.kind", item.Kind);
        activity?.SetTag("sunaiva.work.key", item.Key);
        activity?.SetTag("sunaiva.work.attempt", item.Attempts);
        Lag.Record(Math.Max(0, (_time.GetUtcNow().UtcDateTime - item.CreatedAt).TotalMilliseconds), new KeyValuePair<string, object?>("kind", item.Kind));
        var work = new WorkContext(item, Owner, _store, _dataSource);
        try
        {
            if (!_handlers.TryGetValue(item.Kind, out var handler))
            {
                throw new RetryLaterException(TimeSpan.FromMinutes(1), $"no handler for kind {item.Kind} in this replica");
            }

            if (BeforeHandle is { } before)
            {
                await before(item);
            }

            await handler.HandleAsync(work, stoppingToken);
            if (work.FinishedAs is null)
            {
                if (BeforeFinish is { } hook)
                {
                    await hook(item);
                }

                if (!await _store.RecordPipeline.ExecuteAsync(static async (state, ct) => await state.store.FinishAsync(state.work, "done", null, ct), (store: _store, work), CancellationToken.None))
                {
                    LogLeaseLost(_logger, item.Kind, item.Key);
                    return;
                }
            }

            Finished.Add(1, new KeyValuePair<string, object?>("kind", item.Kind), new KeyValuePair<string, object?>("outcome", work.FinishedAs ?? "done"));
        }
        catch (Exception ex)
        {
            await RecordFailureAsync(work, ex, activity, stoppingToken);
        }
    }

    private async Task RecordFailureAsync(WorkContext work, Exception ex, Activity? activity, CancellationToken stoppingToken)
    {
        var item = work.Item;
        activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
        var now = _time.GetUtcNow();
        try
        {
            switch (Classify(ex, stoppingToken))
            {
                case Failure.LeaseLost:
                    LogLeaseLost(_logger, item.Kind, item.Key);
                    return;
                case Failure.Stopping:
                    // Shutting down: give the item back now rather than after its lease.
                    await _store.RescheduleAsync(work, now, "interrupted by shutdown", refundAttempt: true, CancellationToken.None);
                    return;
                case Failure.Unavailable:
                    var wait = RetryAfter(ex) ?? TimeSpan.FromSeconds(5);
                    await _store.RescheduleAsync(work, now + wait, Describe(ex), refundAttempt: true, CancellationToken.None);
                    LogDeferred(_logger, item.Kind, item.Key, wait, Describe(ex));
                    Finished.Add(1, new KeyValuePair<string, object?>("kind", item.Kind), new KeyValuePair<string, object?>("outcome", "deferred"));
                    return;
                case Failure.Permanent:
                    await _store.FinishAsync(work, "dead", Describe(ex), CancellationToken.None);
                    LogDeadLettered(_logger, item.Kind, item.Key, item.Attempts, Describe(ex));
                    Finished.Add(1, new KeyValuePair<string, object?>("kind", item.Kind), new KeyValuePair<string, object?>("outcome", "dead"));
                    return;
                default:
                    if (item.Attempts >= item.MaxAttempts)
                    {
                        await _store.FinishAsync(work, "dead", Describe(ex), CancellationToken.None);
                        LogDeadLettered(_logger, item.Kind, item.Key, item.Attempts, Describe(ex));
                        Finished.Add(1, new KeyValuePair<string, object?>("kind", item.Kind), new KeyValuePair<string, object?>("outcome", "dead"));
                    }
                    else
                    {
                        var delay = _options.PolicyFor(item.Kind).DelayAfter(item.Attempts);
                        await _store.RescheduleAsync(work, now + delay, Describe(ex), refundAttempt: false, CancellationToken.None);
                        LogRetrying(_logger, item.Kind, item.Key, item.Attempts, delay, ex);
                        Finished.Add(1, new KeyValuePair<string, object?>("kind", item.Kind), new KeyValuePair<string, object?>("outcome", "retry"));
                    }

                    return;
            }
        }
        catch (Exception recordFailure) when (recordFailure is not OperationCanceledException)
        {
            // The database is unreachable: the lease runs out and the item is claimed again.
            LogRecordFailed(_logger, item.Kind, item.Key, recordFailure);
        }
    }

    private enum Failure
    {
        Transient,
        Permanent,
        Unavailable,
        Stopping,
        LeaseLost,
    }

    private static Failure Classify(Exception ex, CancellationToken stoppingToken) => ex switch
    {
        WorkLeaseLostException => Failure.LeaseLost,
        OperationCanceledException when stoppingToken.IsCancellationRequested => Failure.Stopping,
        PermanentWorkFailureException or PermanentFailureException or JsonException => Failure.Permanent,
        RetryLaterException => Failure.Unavailable,
        ProviderChainException { Unavailable: true } => Failure.Unavailable,
        Polly.CircuitBreaker.BrokenCircuitException => Failure.Unavailable,
        _ => Failure.Transient,
    };

    private static TimeSpan? RetryAfter(Exception ex) => ex switch
    {
        RetryLaterException later => later.Delay,
        ProviderChainException { RetryAfter: { } after } => after,
        Polly.CircuitBreaker.BrokenCircuitException { RetryAfter: { } after } => after,
        _ => null,
    };

    // Exception type and a bounded message: handlers' own messages never carry secrets or personal data by convention.
    private static string Describe(Exception ex)
    {
        var text = $"{ex.GetType().Name}: {ex.Message}";
        return text.Length > 500 ? text[..500] : text;
    }

    private async Task RenewLeasesAsync(CancellationToken stoppingToken)
    {
        var every = _options.Lease / 3;
        while (!stoppingToken.IsCancellationRequested)
        {
            await DelayQuietlyAsync(every, _time, stoppingToken);
            try
            {
                await _store.RenewAsync(Owner, _running.Keys.ToList(), _options.Lease, stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogLoopFailed(_logger, ex);
            }
        }
    }

    private async Task PurgeIfDueAsync(CancellationToken stoppingToken)
    {
        var now = _time.GetUtcNow();
        if (now - _lastPurge < TimeSpan.FromMinutes(10))
        {
            return;
        }

        _lastPurge = now;
        await _store.PurgeAsync(_options.Retention, stoppingToken);
    }

    private static async Task DelayQuietlyAsync(TimeSpan delay, TimeProvider time, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, time, stoppingToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Work runner loop failed; retrying")]
    private static partial void LogLoopFailed(ILogger logger, Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Work {Kind} {Key} failed on attempt {Attempts}; retrying in {Delay}")]
    private static partial void LogRetrying(ILogger logger, string kind, string key, int attempts, TimeSpan delay, Exception ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "Work {Kind} {Key} deferred by {Delay} without spending an attempt: {Reason}")]
    private static partial void LogDeferred(ILogger logger, string kind, string key, TimeSpan delay, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Work {Kind} {Key} dead-lettered after {Attempts} attempt(s): {Reason}")]
    private static partial void LogDeadLettered(ILogger logger, string kind, string key, int attempts, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Work {Kind} {Key}: lease lost to another worker; its outcome is theirs")]
    private static partial void LogLeaseLost(ILogger logger, string kind, string key);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Work {Kind} {Key}: outcome could not be recorded; the lease will expire and it runs again")]
    private static partial void LogRecordFailed(ILogger logger, string kind, string key, Exception ex);
}
