using System.Diagnostics;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Billing.Infrastructure;

namespace Sunaiva.Billing.Webhooks;

/// <summary>Handles one Stripe event type inside the processor's transaction; re-reads the object from Stripe.</summary>
public interface IStripeEventHandler
{
    IReadOnlyCollection<string> Types { get; }

    Task HandleAsync(StripeEventEnvelope stripeEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken);
}

/// <summary>
/// Works the inbox. Each event is claimed with <c>FOR UPDATE SKIP LOCKED</c> and handled in the same transaction that
/// marks it done, so replicas never share an event and a crash mid-handler rolls back and leaves it pending.
/// A failing handler is retried with exponential backoff, then dead-lettered after <see cref="StripeOptions.WebhookMaxAttempts"/>.
/// </summary>
public sealed partial class WebhookProcessor : BackgroundService
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly StripeGateway _gateway;
    private readonly WebhookSignal _signal;
    private readonly StripeOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<WebhookProcessor> _logger;
    private readonly Dictionary<string, IStripeEventHandler> _handlers;

    public WebhookProcessor(
        NpgsqlDataSource dataSource,
        StripeGateway gateway,
        WebhookSignal signal,
        IEnumerable<IStripeEventHandler> handlers,
        IOptions<StripeOptions> options,
        TimeProvider time,
        ILogger<WebhookProcessor> logger)
    {
        _dataSource = dataSource;
        _gateway = gateway;
        _signal = signal;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _handlers = handlers.SelectMany(h => h.Types.Select(t => (t, h))).ToDictionary(x => x.t, x => x.h, StringComparer.Ordinal);
    }

    /// <summary>Runs after an event is claimed, before its handler (a seam for crash tests).</summary>
    internal Func<StripeEventEnvelope, CancellationToken, Task>? BeforeHandle { get; set; }

    public IReadOnlyCollection<string> HandledTypes => _handlers.Keys;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_gateway.IsConfigured)
        {
            return;
        }

        var workers = Enumerable.Range(0, _options.WebhookConcurrency).Select(_ => WorkAsync(stoppingToken));
        await Task.WhenAll(workers);
    }

    private async Task WorkAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (!await ProcessNextAsync(stoppingToken))
                {
                    await _signal.WaitAsync(_options.WebhookPollInterval, _time, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogLoopFailed(_logger, ex);
                await Task.Delay(TimeSpan.FromSeconds(1), _time, stoppingToken);
            }
        }
    }

    /// <summary>Claims a batch of due events and handles each under its own savepoint; false when none is due.</summary>
    internal async Task<bool> ProcessNextAsync(CancellationToken ct)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var rows = (await connection.QueryAsync<InboxRow>(new CommandDefinition(
            """
            SELECT id, type, api_version AS apiversion, account, object_id AS objectid, created, payload, attempts FROM stripe_events
            WHERE status = 'pending' AND next_attempt_at <= @now
            ORDER BY next_attempt_at, created LIMIT @batch FOR UPDATE SKIP LOCKED
            """,
            new { now = _time.GetUtcNow(), batch = _options.WebhookBatchSize }, tx, cancellationToken: ct))).ToList();
        if (rows.Count == 0)
        {
            return false;
        }

        // Handlers lock the subscription they touch until commit; taking them in one global order (by object id)
        // keeps two workers' batches from waiting on each other in a cycle.
        var done = new List<string>(rows.Count);
        foreach (var row in rows.OrderBy(r => r.ObjectId, StringComparer.Ordinal))
        {
            if (await HandleAsync(connection, tx, row, ct))
            {
                done.Add(row.Id);
            }
        }

        if (done.Count > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE stripe_events SET status = 'done', attempts = attempts + 1, last_error = NULL, processed_at = @now WHERE id = ANY(@done)",
                new { done, now = _time.GetUtcNow() }, tx, cancellationToken: ct));
        }

        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Runs the event's handler under a savepoint; true when it succeeded (the caller marks it done with the batch).</summary>
    private async Task<bool> HandleAsync(NpgsqlConnection connection, NpgsqlTransaction tx, InboxRow row, CancellationToken ct)
    {
        var envelope = new StripeEventEnvelope(row.Id, row.Type, row.ApiVersion, row.Account, row.ObjectId, row.Created, row.Payload);
        if (!_handlers.TryGetValue(row.Type, out var handler))
        {
            await FinishAsync(connection, tx, row.Id, "ignored", row.Attempts, null, ct);
            return false;
        }

        using var activity = BillingTelemetry.Source.StartActivity("stripe.event " + row.Type, ActivityKind.Consumer);
        activity?.SetTag("stripe.event_id", row.Id);
        if (BeforeHandle is { } hook)
        {
            await hook(envelope, ct);
        }

        await tx.SaveAsync("handler", ct);
        try
        {
            // Savepoints of the batch stay nested until commit; ROLLBACK TO targets the latest one of the name.
            await handler.HandleAsync(envelope, connection, tx, ct);
            BillingTelemetry.EventsProcessed.Add(1, new KeyValuePair<string, object?>("outcome", "done"));
            return true;
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            await tx.RollbackAsync("handler", ct);
            var attempts = row.Attempts + 1;
            var error = Describe(ex);
            if (attempts >= _options.WebhookMaxAttempts)
            {
                await FinishAsync(connection, tx, row.Id, "dead", attempts, error, ct);
                LogDeadLettered(_logger, row.Id, row.Type, attempts, ex);
                BillingTelemetry.EventsProcessed.Add(1, new KeyValuePair<string, object?>("outcome", "dead"));
            }
            else
            {
                var delay = TimeSpan.FromTicks(Math.Min(_options.WebhookRetryBase.Ticks * (1L << Math.Min(attempts - 1, 20)), TimeSpan.FromHours(1).Ticks));
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE stripe_events SET attempts = @attempts, next_attempt_at = @next, last_error = @error WHERE id = @id",
                    new { id = row.Id, attempts, next = _time.GetUtcNow() + delay, error }, tx, cancellationToken: ct));
                LogRetrying(_logger, row.Id, row.Type, attempts, delay, ex);
                BillingTelemetry.EventsProcessed.Add(1, new KeyValuePair<string, object?>("outcome", "retry"));
            }

            return false;
        }
    }

    private Task<int> FinishAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string id, string status, int attempts, string? error, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            "UPDATE stripe_events SET status = @status, attempts = @attempts, last_error = @error, processed_at = @now WHERE id = @id",
            new { id, status, attempts, error, now = _time.GetUtcNow() }, tx, cancellationToken: ct));

    // Stripe's messages name objects, never keys; still, keep it short and typed.
    private static string Describe(Exception ex)
    {
        var message = ex is global::Stripe.StripeException stripe ? $"stripe {stripe.StripeError?.Type}/{stripe.StripeError?.Code} HTTP {(int)stripe.HttpStatusCode}" : ex.Message;
        var text = $"{ex.GetType().Name}: {message}";
        return text.Length > 500 ? text[..500] : text;
    }

    private sealed record InboxRow(string Id, string Type, string? ApiVersion, string? Account, string? ObjectId, DateTime Created, string Payload, int Attempts);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook processor loop failed; retrying")]
    private static partial void LogLoopFailed(ILogger logger, Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stripe event {EventId} ({Type}) failed on attempt {Attempts}; retrying in {Delay}")]
    private static partial void LogRetrying(ILogger logger, string eventId, string type, int attempts, TimeSpan delay, Exception ex);

    [LoggerMessage(Level = LogLevel.Error, Message = "Stripe event {EventId} ({Type}) dead-lettered after {Attempts} attempts")]
    private static partial void LogDeadLettered(ILogger logger, string eventId, string type, int attempts, Exception ex);
}
