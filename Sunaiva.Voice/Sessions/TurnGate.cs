namespace Sunaiva.Voice.Sessions;

/// <summary>
/// Where a reply's events and audio go while its user turn is only speculative (a short pause, not yet the end of
/// speech): held in order until the turn is confirmed (then sent, sequenced as usual) or dropped when the user goes on.
/// A turn that is not speculative gets a gate that is open from the start.
/// </summary>
internal sealed class TurnGate : IDisposable
{
    private readonly CancellationTokenSource _dropped = new();
    private readonly TaskCompletionSource<bool> _decided = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private TurnGate(bool open)
    {
        if (open)
        {
            Commit();
        }
    }

    public static TurnGate Open() => new(open: true);

    public static TurnGate Speculative() => new(open: false);

    public TurnGateState State { get; private set; } = TurnGateState.Pending;

    /// <summary>Events and audio frames produced while pending, in order (callers hold the session's emit lock).</summary>
    public List<HeldItem> Held { get; } = [];

    /// <summary>Audio went to the client before the turn was confirmed (early audio): a drop must tell the client.</summary>
    public bool AudioReleased { get; set; }

    /// <summary>When the reply's first audio frame was produced, and when it was handed to the socket (timestamps).</summary>
    public long FirstAudioReadyAt { get; set; }

    public long FirstAudioSentAt { get; set; }

    /// <summary>Cancelled when the speculation is dropped: the reply stops.</summary>
    public CancellationToken DroppedToken => _dropped.Token;

    /// <summary>True when confirmed, false when dropped.</summary>
    public Task<bool> Decided => _decided.Task;

    public void Commit()
    {
        State = TurnGateState.Committed;
        _decided.TrySetResult(true);
    }

    public void Drop()
    {
        if (State != TurnGateState.Pending)
        {
            return;
        }

        State = TurnGateState.Dropped;
        Held.Clear();
        try
        {
            _dropped.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The reply already ended.
        }

        _decided.TrySetResult(false);
    }

    public void Dispose() => _dropped.Dispose();

    /// <summary>An event (<see cref="Type"/> set) or an audio frame held back.</summary>
    internal readonly record struct HeldItem(string? Type, object? Fields, bool Sequenced, ReadOnlyMemory<byte> Audio);
}

internal enum TurnGateState
{
    Pending,
    Committed,
    Dropped,
}
