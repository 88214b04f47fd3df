using Sunaiva.Contracts;
using System.Text.Json;
using Dapper;
using Npgsql;

namespace Sunaiva.Messaging.Events;

/// <summary>Writes events into the service's outbox, inside the caller's transaction, with the current W3C trace context.</summary>
public sealed class EventOutbox(OutboxSignal signal, TimeProvider time)
{
    /// <summary>
    /// Adds an event to the outbox. Pass a deterministic <paramref name="eventId"/> when the same fact may be
    /// recorded twice (a retried request): the second insert is ignored.
    /// </summary>
    public async Task<string> AddAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string type, object data, string? eventId = null, CancellationToken cancellationToken = default)
    {
        var id = eventId ?? $"evt_{Guid.CreateVersion7():N}";
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO outbox (id, type, payload, occurred_at, traceparent) VALUES (@id, @type, @payload::jsonb, @at, @traceparent)
            ON CONFLICT (id) DO NOTHING
            """,
            new { id, type, payload = JsonSerializer.Serialize(data, EventJson.Options), at = time.GetUtcNow(), traceparent = System.Diagnostics.Activity.Current?.Id },
            transaction,
            cancellationToken: cancellationToken));
        signal.Notify();
        return id;
    }
}

/// <summary>Wakes the relay as soon as something was written, so events do not wait for the next poll.</summary>
public sealed class OutboxSignal
{
    private readonly System.Threading.Channels.Channel<bool> _signal = System.Threading.Channels.Channel.CreateBounded<bool>(
        new System.Threading.Channels.BoundedChannelOptions(1) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite });

    public void Notify() => _signal.Writer.TryWrite(true);

    /// <summary>Waits for a signal or the timeout; true when signalled.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await _signal.Reader.ReadAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
