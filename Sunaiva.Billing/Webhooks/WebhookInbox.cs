using System.Text.Json;
using Dapper;
using Npgsql;

namespace Sunaiva.Billing.Webhooks;

/// <summary>A verified Stripe event as the inbox holds it.</summary>
public sealed record StripeEventEnvelope(string Id, string Type, string? ApiVersion, string? Account, string? ObjectId, DateTime Created, string Payload)
{
    /// <summary>Reads the few fields the inbox needs straight from the JSON, whatever the event's API version.</summary>
    public static StripeEventEnvelope? TryParse(string payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("created", out var created) || !created.TryGetInt64(out var createdSeconds)
                || !root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object
                || !data.TryGetProperty("object", out var obj) || obj.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            return new StripeEventEnvelope(
                id.GetString()!,
                type.GetString()!,
                String(root, "api_version"),
                String(root, "account"),
                String(obj, "id"),
                DateTimeOffset.FromUnixTimeSeconds(createdSeconds).UtcDateTime,
                payload);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>The webhook inbox table: one row per Stripe event id, whatever delivered it (webhook, recovery).</summary>
public sealed class WebhookInbox(NpgsqlDataSource dataSource, WebhookSignal signal, TimeProvider time)
{
    /// <summary>Stores the event unless already stored; true when this call stored it.</summary>
    public async Task<bool> StoreAsync(StripeEventEnvelope envelope, string source, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO stripe_events (id, type, api_version, account, object_id, created, payload, source, next_attempt_at, received_at)
            VALUES (@Id, @Type, @ApiVersion, @Account, @ObjectId, @Created, @Payload, @source, @now, @now)
            ON CONFLICT (id) DO NOTHING
            """,
            new { envelope.Id, envelope.Type, envelope.ApiVersion, envelope.Account, envelope.ObjectId, envelope.Created, envelope.Payload, source, now },
            cancellationToken: ct));
        if (inserted == 1)
        {
            signal.Notify();
        }

        return inserted == 1;
    }

    public async Task<IReadOnlyList<DeadEvent>> ListDeadAsync(int limit, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return (await connection.QueryAsync<DeadEvent>(new CommandDefinition(
            """
            SELECT id, type, attempts, last_error AS lasterror, received_at AS receivedat FROM stripe_events
            WHERE status = 'dead' ORDER BY received_at LIMIT @limit
            """,
            new { limit }, cancellationToken: ct))).ToList();
    }

    /// <summary>Puts dead-lettered events (all, or the given ones) back in the queue with fresh attempts.</summary>
    public async Task<int> ReplayAsync(IReadOnlyCollection<string>? ids, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var replayed = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE stripe_events SET status = 'pending', attempts = 0, next_attempt_at = @now, last_error = NULL
            WHERE status = 'dead' AND (@all OR id = ANY(@ids))
            """,
            new { now = time.GetUtcNow(), all = ids is null || ids.Count == 0, ids = ids?.ToArray() ?? [] }, cancellationToken: ct));
        signal.Notify();
        return replayed;
    }

    public async Task<string?> StatusAsync(string id, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT status FROM stripe_events WHERE id = @id", new { id }, cancellationToken: ct));
    }
}

public sealed record DeadEvent(string Id, string Type, int Attempts, string? LastError, DateTime ReceivedAt);

/// <summary>Wakes the processor when an event was stored, so processing does not wait for the next poll.</summary>
public sealed class WebhookSignal
{
    private readonly System.Threading.Channels.Channel<bool> _channel = System.Threading.Channels.Channel.CreateBounded<bool>(
        new System.Threading.Channels.BoundedChannelOptions(1) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite });

    public void Notify() => _channel.Writer.TryWrite(true);

    public async Task WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var timer = time.CreateTimer(static s => ((CancellationTokenSource)s!).Cancel(), cts, timeout, Timeout.InfiniteTimeSpan);
        try
        {
            await _channel.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
        }
    }
}
