namespace Sunaiva.Integration;

/// <summary>
/// The provider refused THIS input (a refused recipient, an unparsable address, a 4xx validation error): retrying it,
/// or sending it to another provider, gives the same answer. Thrown by an adapter; the chain meters it (outcome error,
/// description "rejected"), does not count it against the breaker or the health window, does not fail over, and
/// rethrows it unchanged.
/// </summary>
public sealed class PermanentFailureException : Exception
{
    /// <param name="provider">The provider that refused the input.</param>
    /// <param name="reason">Why, in the kernel's words (a status code or error class): no personal data, no request content.</param>
    /// <param name="inner">The provider's own error, if any.</param>
    public PermanentFailureException(string provider, string reason, Exception? inner = null)
        : base($"{provider} refused this input: {reason}", inner)
    {
        Provider = provider;
        Reason = reason;
    }

    public PermanentFailureException()
        : this("unknown", "rejected")
    {
    }

    public PermanentFailureException(string message)
        : this("unknown", message)
    {
    }

    public PermanentFailureException(string message, Exception inner)
        : this("unknown", message, inner)
    {
    }

    public string Provider { get; }

    public string Reason { get; }
}

/// <summary>
/// A stream failed or stalled after its first chunk reached the caller, so the chain cannot fail over silently:
/// says which provider stopped and how much was delivered, so the caller can resume or fall back (voice switches to text).
/// </summary>
public sealed class StreamInterruptedException : Exception
{
    public StreamInterruptedException(string capability, string provider, long chunksDelivered, decimal unitsDelivered, bool stalled, Exception? inner = null)
        : base($"The {capability} stream from {provider} {(stalled ? "stalled" : "failed")} after {chunksDelivered} chunk(s)", inner)
    {
        Capability = capability;
        Provider = provider;
        ChunksDelivered = chunksDelivered;
        UnitsDelivered = unitsDelivered;
        Stalled = stalled;
    }

    public StreamInterruptedException()
        : this("unknown", "unknown", 0, 0, false)
    {
    }

    public StreamInterruptedException(string message)
        : base(message)
    {
        Capability = "unknown";
        Provider = "unknown";
    }

    public StreamInterruptedException(string message, Exception inner)
        : base(message, inner)
    {
        Capability = "unknown";
        Provider = "unknown";
    }

    public string Capability { get; }

    /// <summary>The adapter that was serving the stream.</summary>
    public string Provider { get; }

    /// <summary>Chunks the caller received before the interruption.</summary>
    public long ChunksDelivered { get; }

    /// <summary>Billable units of those chunks (what the caller has, and what was metered).</summary>
    public decimal UnitsDelivered { get; }

    /// <summary>True when no chunk came within the inter-chunk deadline; false when the provider failed.</summary>
    public bool Stalled { get; }
}

/// <summary>An adapter's turn was cut because the capability's latency budget ran out and another adapter can serve.</summary>
internal sealed class LatencyBudgetSpentException : TimeoutException
{
    public LatencyBudgetSpentException(string provider, Exception inner)
        : base($"{provider} did not answer within the latency budget", inner)
    {
    }

    public LatencyBudgetSpentException()
    {
    }

    public LatencyBudgetSpentException(string message)
        : base(message)
    {
    }
}

/// <summary>The kernel's descriptions of how an attempt ended, as the ledger's <c>error</c> column and metrics carry them.</summary>
public static class CallErrors
{
    /// <summary>The provider refused this input (<see cref="PermanentFailureException"/>).</summary>
    public const string Rejected = "rejected";

    /// <summary>The adapter's turn was cut by the capability's latency budget; the next adapter served.</summary>
    public const string LatencyBudget = "latency budget";

    /// <summary>No first chunk within the capability's first-chunk deadline.</summary>
    public const string FirstChunkDeadline = "first-chunk deadline";

    /// <summary>No next chunk within the capability's inter-chunk deadline.</summary>
    public const string Stalled = "stalled";

    /// <summary>The caller stopped the call; not held against the provider.</summary>
    public const string Canceled = "canceled";
}
