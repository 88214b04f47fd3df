namespace Sunaiva.Messaging.Work;

/// <summary>Work to enqueue: what handles it (<paramref name="Kind"/>), its idempotency key, and its payload.</summary>
/// <param name="Kind">The handler's kind ("event:WelcomeSeriesHandler", "webhook:stripe", "email.send").</param>
/// <param name="Key">Unique across the service: enqueuing the same key twice keeps the first.</param>
/// <param name="Payload">Text the handler reads (JSON by convention).</param>
/// <param name="PartitionKey">Items sharing a partition never run at the same time (a Stripe customer, a user).</param>
/// <param name="RunAt">Not before this moment (delayed and scheduled work); now when null.</param>
/// <param name="MaxAttempts">Overrides the kind's policy.</param>
/// <param name="TraceParent">W3C trace context to continue; the current activity's when null.</param>
public sealed record NewWork(string Kind, string Key, string Payload, string? PartitionKey = null, DateTimeOffset? RunAt = null, int? MaxAttempts = null, string? TraceParent = null);

/// <summary>A claimed work item as its handler sees it.</summary>
public sealed record WorkItem(long Id, string Kind, string Key, string? PartitionKey, string Payload, int Attempts, int MaxAttempts, string? TraceParent, DateTime CreatedAt);

/// <summary>A work item as ops see it.</summary>
public sealed record WorkItemView(long Id, string Kind, string Key, string Status, int Attempts, int MaxAttempts, DateTime RunAt, string? LastError, DateTime CreatedAt, DateTime? FinishedAt);

/// <summary>Counts per kind and status, with the age of the oldest due item.</summary>
public sealed record WorkKindStats(string Kind, long Pending, long Running, long Done, long Ignored, long Dead, double OldestDueSeconds);

/// <summary>Thrown by a handler to come back later without spending an attempt (an open circuit, a dependency restarting).</summary>
public sealed class RetryLaterException : Exception
{
    public RetryLaterException(TimeSpan delay, string reason, Exception? inner = null)
        : base(reason, inner) => Delay = delay;

    public RetryLaterException()
        : this(TimeSpan.FromSeconds(5), "retry later")
    {
    }

    public RetryLaterException(string message)
        : this(TimeSpan.FromSeconds(5), message)
    {
    }

    public RetryLaterException(string message, Exception inner)
        : this(TimeSpan.FromSeconds(5), message, inner)
    {
    }

    public TimeSpan Delay { get; }
}

/// <summary>Thrown by a handler when this item can never succeed (bad data, a refused recipient): dead-lettered at once, alone.</summary>
public sealed class PermanentWorkFailureException : Exception
{
    public PermanentWorkFailureException(string reason, Exception? inner = null)
        : base(reason, inner)
    {
    }

    public PermanentWorkFailureException()
        : this("permanent failure")
    {
    }

    public PermanentWorkFailureException(string message)
        : this(message, null)
    {
    }
}
