using Npgsql;

namespace Sunaiva.Messaging.Work;

/// <summary>
/// Runs one kind of durable work. It is called with no transaction open and no lock held: call the outside world
/// freely, then record the outcome with <see cref="WorkContext.CommitAsync"/>, which marks the item done in the same
/// short transaction (so a crash before that commit runs the handler again, and after it never does).
/// Effects outside the database take an idempotency key derived from <see cref="WorkItem.Key"/>.
/// </summary>
public interface IWorkHandler
{
    string Kind { get; }

    Task HandleAsync(WorkContext context, CancellationToken cancellationToken);
}

/// <summary>The item being worked and the way to finish it atomically with its effects.</summary>
public sealed class WorkContext
{
    private readonly WorkStore _store;
    private readonly NpgsqlDataSource _dataSource;

    internal WorkContext(WorkItem item, string owner, WorkStore store, NpgsqlDataSource dataSource)
    {
        Item = item;
        Owner = owner;
        _store = store;
        _dataSource = dataSource;
    }

    public WorkItem Item { get; }

    internal string Owner { get; }

    /// <summary>Set once the item was finished inside the handler's own transaction.</summary>
    internal string? FinishedAs { get; private set; }

    /// <summary>
    /// Runs <paramref name="body"/> in a short transaction that also marks this item done. Throws (and rolls back)
    /// when the lease was lost to another worker, so an effect is never recorded twice.
    /// </summary>
    public Task CommitAsync(Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task> body, CancellationToken cancellationToken) =>
        FinishInTransactionAsync("done", null, body, cancellationToken);

    /// <summary>Finishes the item as <c>ignored</c> (nothing to do for it), with the reason kept for ops.</summary>
    public Task IgnoreAsync(string reason, CancellationToken cancellationToken) =>
        FinishInTransactionAsync("ignored", reason, static (_, _, _) => Task.CompletedTask, cancellationToken);

    /// <summary>
    /// The outcome is recorded even through a database restart: the handler's remote effect already happened, so the
    /// record is retried (for about a minute) instead of letting the item run, and its effect repeat, again.
    /// </summary>
    private Task FinishInTransactionAsync(string status, string? note, Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task> body, CancellationToken cancellationToken) =>
        _store.RecordPipeline.ExecuteAsync(
            static async (state, ct) => await state.self.FinishOnceAsync(state.status, state.note, state.body, ct),
            (self: this, status, note, body),
            cancellationToken).AsTask();

    private async Task FinishOnceAsync(string status, string? note, Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task> body, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var tx = await connection.BeginTransactionAsync(cancellationToken);
        await body(connection, tx, cancellationToken);
        if (!await _store.FinishAsync(connection, tx, this, status, note, cancellationToken))
        {
            throw new WorkLeaseLostException(Item.Key);
        }

        await tx.CommitAsync(cancellationToken);
        FinishedAs = status;
    }
}

/// <summary>The item's lease passed to another worker before this one finished: its outcome is not recorded.</summary>
public sealed class WorkLeaseLostException : Exception
{
    public WorkLeaseLostException(string key)
        : base($"The lease on work item {key} was lost")
    {
    }

    public WorkLeaseLostException()
        : base("The lease on a work item was lost")
    {
    }

    public WorkLeaseLostException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
