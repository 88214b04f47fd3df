namespace Sunaiva.Integration;

/// <summary>
/// A chain's stream, read once with <c>await foreach</c>. Once the first chunk has come, <see cref="Provider"/> says
/// which adapter serves it and <see cref="Degraded"/> whether an earlier adapter failed before it.
/// </summary>
public sealed class ChainStream<TChunk> : IAsyncEnumerable<TChunk>
{
    private readonly Func<ChainStream<TChunk>, CancellationToken, IAsyncEnumerable<TChunk>> _run;
    private int _enumerated;

    internal ChainStream(string capability, Func<ChainStream<TChunk>, CancellationToken, IAsyncEnumerable<TChunk>> run)
    {
        Capability = capability;
        _run = run;
    }

    public string Capability { get; }

    /// <summary>The adapter serving the stream; null until its first chunk has come.</summary>
    public string? Provider { get; internal set; }

    /// <summary>True when an earlier adapter failed, stalled or was skipped before <see cref="Provider"/> served.</summary>
    public bool Degraded { get; internal set; }

    public int AdaptersTried { get; internal set; }

    /// <summary>Chunks handed to the caller so far.</summary>
    public long ChunksDelivered { get; internal set; }

    /// <summary>Billable units of the chunks handed to the caller so far.</summary>
    public decimal UnitsDelivered { get; internal set; }

    /// <summary>From the serving adapter's call to its first chunk.</summary>
    public TimeSpan? TimeToFirstChunk { get; internal set; }

    /// <summary>Every attempt so far, in order (one per adapter tried).</summary>
    public IReadOnlyList<ChainAttempt> Attempts => AttemptList;

    internal List<ChainAttempt> AttemptList { get; } = new(2);

    public IAsyncEnumerator<TChunk> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _enumerated, 1) != 0)
        {
            throw new InvalidOperationException("A chain stream can be read once; call StreamAsync again for a new stream.");
        }

        return _run(this, cancellationToken).GetAsyncEnumerator(cancellationToken);
    }
}
