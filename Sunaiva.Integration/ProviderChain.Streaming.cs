using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.RateLimiting;
using Polly.CircuitBreaker;

namespace Sunaiva.Integration;

/// <summary>Streaming operations: chunks from the first adapter that delivers one, metered per chunk, guarded by chunk deadlines.</summary>
public sealed partial class ProviderChain<TAdapter>
{
    /// <summary>Streams <paramref name="open"/>'s chunks from the first adapter that delivers a first chunk.</summary>
    /// <remarks>
    /// Before the first chunk reaches the caller, an error, a stall past <c>FirstChunkDeadline</c>, an open circuit or
    /// throttling moves the stream to the next adapter. After it, an error or a gap past <c>InterChunkDeadline</c> throws
    /// <see cref="StreamInterruptedException"/> (provider, chunks and units delivered). No attempt timeout applies; the
    /// capability's <c>StreamingDeadline</c> bounds the whole stream. The caller's cancellation is never held against a provider.
    /// </remarks>
    public ChainStream<TChunk> StreamAsync<TChunk>(
        ProviderOperation operation,
        Func<TAdapter, ProviderCallContext, CancellationToken, IAsyncEnumerable<TChunk>> open,
        CancellationToken cancellationToken) =>
        StreamAsync(operation, open, null, cancellationToken);

    /// <inheritdoc cref="StreamAsync{TChunk}(ProviderOperation, Func{TAdapter, ProviderCallContext, CancellationToken, IAsyncEnumerable{TChunk}}, CancellationToken)"/>
    /// <param name="unitsPerChunk">Billable units of one chunk (characters of text, seconds of audio); added to what the adapter reports.</param>
    public ChainStream<TChunk> StreamAsync<TChunk>(
        ProviderOperation operation,
        Func<TAdapter, ProviderCallContext, CancellationToken, IAsyncEnumerable<TChunk>> open,
        Func<TChunk, decimal>? unitsPerChunk,
        CancellationToken cancellationToken) =>
        new(Capability, (stream, enumeratorToken) => RunStreamAsync(stream, operation, open, unitsPerChunk, cancellationToken, enumeratorToken));

    private async IAsyncEnumerable<TChunk> RunStreamAsync<TChunk>(
        ChainStream<TChunk> stream,
        ProviderOperation operation,
        Func<TAdapter, ProviderCallContext, CancellationToken, IAsyncEnumerable<TChunk>> open,
        Func<TChunk, decimal>? unitsPerChunk,
        CancellationToken streamToken,
        [EnumeratorCancellation] CancellationToken enumeratorToken = default)
    {
        using var caller = CancellationTokenSource.CreateLinkedTokenSource(streamToken, enumeratorToken);
        var callerToken = caller.Token;
        using var activity = IntegrationTelemetry.ActivitySource.StartActivity($"{Capability} {operation.Name} stream", ActivityKind.Internal);
        activity?.SetTag("sunaiva.capability", Capability);
        using var deadlineSource = new CancellationTokenSource(_options.StreamingDeadline, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callerToken, deadlineSource.Token);
        var token = linked.Token;

        var userId = MeteringContext.UserId;
        var attempts = stream.AttemptList;
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
            await using var attempt = new StreamAttempt<TChunk>(this, adapter, runtime, operation, open, unitsPerChunk, userId, attempts, callerToken, token);

            var blockedFor = runtime.ThrottledFor();
            if (blockedFor > TimeSpan.Zero)
            {
                attempt.Record(CallOutcome.Throttled, "waiting for Retry-After");
                earliestRetry = Min(earliestRetry, blockedFor);
                continue;
            }

            var (lease, gate) = await AcquireForStreamAsync(runtime, userId, token, callerToken);
            using var held = lease;
            if (gate is not null)
            {
                attempt.Record(CallOutcome.Throttled, gate);
                if (lease is { IsAcquired: false })
                {
                    earliestRetry = Min(earliestRetry, lease.TryGetMetadata(MetadataName.RetryAfter, out var ra) ? ra : TimeSpan.FromSeconds(1));
                    continue;
                }

                break;
            }

            var start = await attempt.OpenAsync(token);
            switch (start.Kind)
            {
                case StreamStart.CircuitOpen:
                    earliestRetry = Min(earliestRetry, OpenFor(runtime));
                    last = start.Error;
                    continue;
                case StreamStart.Throttled:
                    var wait = start.RetryAfter ?? TimeSpan.FromSeconds(1);
                    runtime.ThrottleFor(wait);
                    earliestRetry = Min(earliestRetry, wait);
                    last = start.Error;
                    continue;
                case StreamStart.Failed:
                    failed = true;
                    last = start.Error;
                    continue;
                case StreamStart.Rejected or StreamStart.Canceled:
                    activity?.SetStatus(ActivityStatusCode.Error, start.Kind == StreamStart.Rejected ? CallErrors.Rejected : CallErrors.Canceled);
                    ExceptionDispatchInfo.Throw(start.Error!);
                    break;
            }

            stream.Provider = adapter.Provider;
            stream.AdaptersTried = tried;
            stream.Degraded = attempts.Exists(a => !string.Equals(a.Provider, adapter.Provider, StringComparison.Ordinal));
            stream.TimeToFirstChunk = attempt.FirstChunk;
            activity?.SetTag("sunaiva.provider", adapter.Provider);
            activity?.SetTag("sunaiva.degraded", stream.Degraded);
            if (start.Kind == StreamStart.Ended)
            {
                attempt.Complete(null);
                yield break;
            }

            while (true)
            {
                stream.ChunksDelivered = attempt.Chunks;
                stream.UnitsDelivered = attempt.Units;
                yield return attempt.Current;

                var next = await attempt.NextAsync(token);
                switch (next.Kind)
                {
                    case StreamNext.Chunk:
                        continue;
                    case StreamNext.Ended:
                        attempt.Complete(null);
                        yield break;
                    case StreamNext.Canceled:
                        activity?.SetStatus(ActivityStatusCode.Error, CallErrors.Canceled);
                        ExceptionDispatchInfo.Throw(next.Error!);
                        break;
                }

                activity?.SetStatus(ActivityStatusCode.Error, "interrupted");
                var stalled = next.Error is StreamStallException;
                throw new StreamInterruptedException(Capability, adapter.Provider, stream.ChunksDelivered, stream.UnitsDelivered, stalled, stalled ? null : next.Error);
            }
        }

        throw ChainFailed(activity, deadlineSource, attempts, earliestRetry, last, tried > 0 && !failed);
    }

    // A permit from the adapter's client-side limiters: (lease, null) to go on, (lease, reason) when refused.
    private static async ValueTask<(RateLimitLease? Lease, string? Refused)> AcquireForStreamAsync(
        AdapterRuntime runtime, string? userId, CancellationToken token, CancellationToken callerToken)
    {
        try
        {
            var lease = await runtime.AcquireAsync(userId, token);
            return lease is { IsAcquired: false } ? (lease, "client-side rate limit") : (lease, null);
        }
        catch (OperationCanceledException) when (!callerToken.IsCancellationRequested)
        {
            return (null, "deadline reached waiting for a rate-limit permit");
        }
    }

    private enum StreamStart
    {
        FirstChunk,
        Ended,
        CircuitOpen,
        Throttled,
        Rejected,
        Canceled,
        Failed,
    }

    private enum StreamNext
    {
        Chunk,
        Ended,
        Canceled,
        Failed,
    }

    /// <summary>One adapter's stream: opening (inside its breaker and chaos), chunk deadlines, metering, disposal.</summary>
    private sealed class StreamAttempt<TChunk> : IAsyncDisposable
    {
        private readonly ProviderChain<TAdapter> _chain;
        private readonly TAdapter _adapter;
        private readonly AdapterRuntime _runtime;
        private readonly ProviderOperation _operation;
        private readonly Func<TAdapter, ProviderCallContext, CancellationToken, IAsyncEnumerable<TChunk>> _open;
        private readonly Func<TChunk, decimal>? _unitsPerChunk;
        private readonly string? _userId;
        private readonly List<ChainAttempt> _attempts;
        private readonly CancellationToken _callerToken;
        private readonly CancellationTokenSource _cts;
        private readonly ProviderCallContext _context;
        private IAsyncEnumerator<TChunk>? _enumerator;
        private Task<bool>? _pending;
        private long _started;
        private bool _recorded;

        public StreamAttempt(
            ProviderChain<TAdapter> chain,
            TAdapter adapter,
            AdapterRuntime runtime,
            ProviderOperation operation,
            Func<TAdapter, ProviderCallContext, CancellationToken, IAsyncEnumerable<TChunk>> open,
            Func<TChunk, decimal>? unitsPerChunk,
            string? userId,
            List<ChainAttempt> attempts,
            CancellationToken callerToken,
            CancellationToken chainToken)
        {
            _chain = chain;
            _adapter = adapter;
            _runtime = runtime;
            _operation = operation;
            _open = open;
            _unitsPerChunk = unitsPerChunk;
            _userId = userId;
            _attempts = attempts;
            _callerToken = callerToken;
            // The adapter's stream stops when the caller or the deadline stops the chain, or when its circuit opens.
            _cts = CancellationTokenSource.CreateLinkedTokenSource(chainToken, runtime.AbandonToken);
            _context = new ProviderCallContext(chain.Capability, adapter.Provider, 1, userId, operation.Unit);
        }

        public TChunk Current => _enumerator!.Current;

        public long Chunks { get; private set; }

        public decimal Units => _context.Units;

        public TimeSpan? FirstChunk { get; private set; }

        public async ValueTask<(StreamStart Kind, Exception? Error, TimeSpan? RetryAfter)> OpenAsync(CancellationToken token)
        {
            _started = _chain._time.GetTimestamp();
            try
            {
                var first = await _runtime.OpenStreamAsync(ct => _runtime.Chaos.RunAsync(_context, static (s, _, ct2) => s.FirstAsync(ct2), this, ct), token);
                return (first ? StreamStart.FirstChunk : StreamStart.Ended, null, null);
            }
            catch (Exception ex) when (ex is BrokenCircuitException or IsolatedCircuitException)
            {
                RecordOnce(CallOutcome.CircuitOpen, "circuit open", TimeSpan.Zero);
                return (StreamStart.CircuitOpen, ex, null);
            }
            catch (PermanentFailureException ex)
            {
                Record(CallOutcome.Error, CallErrors.Rejected);
                return (StreamStart.Rejected, ex, null);
            }
            catch (Exception ex)
            {
                var outcome = ChainClassify(ex, _callerToken);
                Fail(ex, outcome);
                return outcome switch
                {
                    CallOutcome.Throttled => (StreamStart.Throttled, ex, (ex as ProviderThrottledException)?.RetryAfter),
                    _ when _callerToken.IsCancellationRequested => (StreamStart.Canceled, ex, null),
                    _ => (StreamStart.Failed, ex, null),
                };
            }
        }

        public async ValueTask<(StreamNext Kind, Exception? Error)> NextAsync(CancellationToken token)
        {
            try
            {
                return (await MoveAsync(_chain._options.InterChunkDeadline, first: false, token) ? StreamNext.Chunk : StreamNext.Ended, null);
            }
            catch (Exception ex)
            {
                Fail(ex, ChainClassify(ex, _callerToken));
                return (_callerToken.IsCancellationRequested ? StreamNext.Canceled : StreamNext.Failed, ex);
            }
        }

        private async ValueTask<bool> FirstAsync(CancellationToken cancellationToken)
        {
            // Inside the attempt scope, a metered HttpClient leaves the row to the chain.
            ChainAttemptScope.Enter();
            _enumerator = _open(_adapter, _context, _cts.Token).GetAsyncEnumerator(_cts.Token);
            return await MoveAsync(_chain._options.FirstChunkDeadline, first: true, cancellationToken);
        }

        // The deadline is kept by the chain, not left to the adapter: a provider that ignores its token still cannot stall
        // the caller. It starts before the chunk is asked for, so it runs from the request, not from the first await.
        private async ValueTask<bool> MoveAsync(TimeSpan within, bool first, CancellationToken cancellationToken)
        {
            using var stall = new CancellationTokenSource(within, _chain._time);
            var move = _enumerator!.MoveNextAsync();
            bool more;
            if (move.IsCompletedSuccessfully)
            {
                more = move.Result;
            }
            else
            {
                var pending = _pending = move.AsTask();
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, stall.Token);
                try
                {
                    more = await pending.WaitAsync(wait.Token);
                }
                catch (OperationCanceledException) when (stall.IsCancellationRequested && !cancellationToken.IsCancellationRequested && !pending.IsCompleted)
                {
                    throw new StreamStallException(first);
                }

                _pending = null;
            }

            if (more)
            {
                Chunks++;
                if (first)
                {
                    FirstChunk = _chain._time.GetElapsedTime(_started);
                }

                if (_unitsPerChunk is not null)
                {
                    _context.Units += _unitsPerChunk(_enumerator.Current);
                }
            }

            return more;
        }

        /// <summary>The stream ended, or the caller stopped reading: a served attempt (fallback when another adapter failed first).</summary>
        public void Complete(string? error)
        {
            var fallback = _attempts.Exists(a => !string.Equals(a.Provider, _adapter.Provider, StringComparison.Ordinal));
            if (RecordOnce(fallback ? CallOutcome.Fallback : CallOutcome.Ok, error, null))
            {
                _runtime.Health.Success();
            }
        }

        private void Fail(Exception ex, CallOutcome outcome)
        {
            var description = ex switch
            {
                StreamStallException { First: true } => CallErrors.FirstChunkDeadline,
                StreamStallException => CallErrors.Stalled,
                _ when _callerToken.IsCancellationRequested => CallErrors.Canceled,
                _ => Describe(ex, outcome),
            };
            if (RecordOnce(outcome, description, null) && outcome is not CallOutcome.Throttled && !_callerToken.IsCancellationRequested)
            {
                _runtime.Health.Failure(description, _chain._time.GetUtcNow());
            }
        }

        public void Record(CallOutcome outcome, string? error) => RecordOnce(outcome, error, null);

        private bool RecordOnce(CallOutcome outcome, string? error, TimeSpan? duration)
        {
            if (_recorded)
            {
                return false;
            }

            _recorded = true;
            var took = duration ?? (_started == 0 ? TimeSpan.Zero : _chain._time.GetElapsedTime(_started));
            _attempts.Add(new ChainAttempt(_adapter.Provider, outcome, took, error));
            _chain._meter.Record(new MeteredCall(_chain.Capability, _adapter.Provider, _operation.Name, _context.Unit, _context.Units, took, outcome, _userId, error,
                FirstChunk, _started == 0 ? null : Chunks));
            return true;
        }

        public async ValueTask DisposeAsync()
        {
            if (_started != 0 && !_recorded)
            {
                // The caller stopped reading: the provider served what was asked for.
                Complete(null);
            }

            await _cts.CancelAsync();
            if (_enumerator is null)
            {
                _cts.Dispose();
                return;
            }

            if (_pending is { IsCompleted: false } pending)
            {
                // The adapter is still inside MoveNextAsync: dispose once it lets go, without holding up the caller.
                _ = DisposeWhenIdleAsync(pending, _enumerator, _cts);
                return;
            }

            await DisposeWhenIdleAsync(Task.FromResult(false), _enumerator, _cts);
        }

        private static async Task DisposeWhenIdleAsync(Task<bool> pending, IAsyncEnumerator<TChunk> enumerator, CancellationTokenSource cts)
        {
            try
            {
                await pending.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // Its failure was metered already (or it was canceled by us).
            }

            try
            {
                await enumerator.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // An adapter that fails while being stopped changes nothing for the caller.
            }

            cts.Dispose();
        }
    }
}

/// <summary>A stream produced no chunk within its deadline (the first-chunk deadline when <see cref="First"/>).</summary>
internal sealed class StreamStallException : TimeoutException
{
    public StreamStallException(bool first)
        : base(first ? "No first chunk within the first-chunk deadline" : "No chunk within the inter-chunk deadline")
    {
        First = first;
    }

    public StreamStallException()
    {
    }

    public StreamStallException(string message)
        : base(message)
    {
    }

    public StreamStallException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public bool First { get; }
}
