using System.Threading.Channels;

namespace Sunaiva.Messaging;

/// <summary>
/// Wakes a background loop (the work runner, the outbox relay) as soon as something was written for it, so nothing waits
/// for its next poll. Writers say whether their transaction has committed: a loop's claim that starts before a commit does
/// not see the row, so after <see cref="Notify"/> the loop looks again soon (a few times within some hundred milliseconds),
/// while after <see cref="NotifyCommitted"/> one claim finds what was written.
/// </summary>
public abstract class WriteSignal
{
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    private int _uncommitted;

    /// <summary>Wakes the loop for rows whose transaction has not committed yet (an insert inside the caller's transaction).</summary>
    public void Notify()
    {
        Volatile.Write(ref _uncommitted, 1);
        _channel.Writer.TryWrite(true);
    }

    /// <summary>Wakes the loop for rows already committed (or for a reason of its own, such as a slot freed): its next claim sees them.</summary>
    public void NotifyCommitted() => _channel.Writer.TryWrite(true);

    /// <summary>Whether <see cref="Notify"/> was called since the last call of this (and forgets it): take it before a claim.</summary>
    public bool TakeUncommitted() => Interlocked.Exchange(ref _uncommitted, 0) == 1;

    /// <summary>Waits for a signal or the timeout on the real clock; true when signalled.</summary>
    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => WaitAsync(timeout, TimeProvider.System, cancellationToken);

    /// <summary>Waits for a signal or the timeout on <paramref name="time"/>'s clock; true when signalled.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        // The timeout's source owns its timer: a hand-made timer's callback can still run after the source it cancels was
        // disposed, and that ObjectDisposedException on a timer thread ends the process.
        using var timeoutSource = new CancellationTokenSource(timeout, time);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutSource.Token);
        try
        {
            await _channel.Reader.ReadAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}

/// <summary>
/// One loop's quick re-polls after a <see cref="WriteSignal.Notify"/> (a writer that had not committed yet): claims again
/// 10, 20, 40 ... ms later, <c>count</c> times, in case a claim ran before the commit. A claim that found rows, with no such
/// signal taken before it, ends them: it found what a committed signal announced.
/// </summary>
public sealed class CommitRepolls(WriteSignal signal, int count)
{
    private readonly int _count = count;
    private int _next = count;
    private bool _uncommittedBeforeClaim;

    /// <summary>Call before each claim: a signal sent before its writer's commit starts the re-polls over.</summary>
    public void BeforeClaim()
    {
        _uncommittedBeforeClaim = signal.TakeUncommitted();
        if (_uncommittedBeforeClaim)
        {
            _next = 0;
        }
    }

    /// <summary>Call after a claim that found rows.</summary>
    public void Found()
    {
        if (!_uncommittedBeforeClaim)
        {
            _next = _count;
        }
    }

    /// <summary>The wait before the next quick re-poll, or null once they are spent (then the loop waits for a signal or its poll).</summary>
    public TimeSpan? NextDelay() => _next < _count ? TimeSpan.FromMilliseconds(10 << _next++) : null;
}

