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
            INSERT INTO outbox (id, type, payload, occurred_at, traceparent)
            VALUES (@eventId, @eventType, CAST(@eventPayload AS jsonb), @eventAt, @eventTrace)
            ON CONFLICT (id) DO NOTHING
            """,
            ParametersFor(type, data, id),
            transaction,
            cancellationToken: cancellationToken));
        signal.Notify();
        return id;
    }

    /// <summary>
    /// The event's insert as part of a caller's statement (a data-modifying CTE), made only when <paramref name="whenRowsIn"/>
    /// has rows; its parameters come from <see cref="ParametersFor"/>. The caller calls <see cref="NotifyAdded"/> once
    /// its statement committed.
    /// </summary>
    public static string InsertWhenSql(string whenRowsIn) =>
        $"""
        INSERT INTO outbox (id, type, payload, occurred_at, traceparent)
        SELECT @eventId, @eventType, CAST(@eventPayload AS jsonb), @eventAt, @eventTrace
        WHERE EXISTS (SELECT 1 FROM {whenRowsIn})
        ON CONFLICT (id) DO NOTHING
        """;

    /// <summary>The parameters of an event's insert: the event, its id, now and the current trace.</summary>
    public DynamicParameters ParametersFor(string type, object data, string eventId)
    {
        var parameters = new DynamicParameters();
        parameters.AddDynamicParams(new
        {
            eventId,
            eventType = type,
            eventPayload = JsonSerializer.Serialize(data, EventJson.Options),
            eventAt = time.GetUtcNow(),
            eventTrace = System.Diagnostics.Activity.Current?.Id,
        });
        return parameters;
    }

    /// <summary>Wakes the relay for events written by <see cref="InsertWhenSql"/>, once the caller's statement committed.</summary>
    public void NotifyAdded() => signal.NotifyCommitted();
}

/// <summary>
/// Wakes the relay as soon as an event was written: <see cref="WriteSignal.Notify"/> from <see cref="EventOutbox.AddAsync"/>
/// (before the writer's commit), <see cref="WriteSignal.NotifyCommitted"/> from <see cref="EventOutbox.NotifyAdded"/>.
/// </summary>
public sealed class OutboxSignal : WriteSignal;
