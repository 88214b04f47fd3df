using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;
using Polly;
using Polly.Retry;

namespace Sunaiva.Integration;

/// <summary>
/// Drains the meter's buffer into the usage ledger with binary COPY, a batch at a time, so metering costs the
/// request path one channel write. A batch is written <see cref="LedgerOptions.FlushInterval"/> after its first row (at
/// once when a whole batch waits): written at each row, the COPY took a Postgres backend and a core at the moment of the
/// call that was metered, beside the request that made it (a 1 MB upload's put, measured in bench/Sunaiva.Bench.Files).
/// Batches that fail are retried with Polly (exponential backoff), then dropped and logged.
/// </summary>
public sealed partial class UsageLedgerWriter(
    LedgerMeter meter,
    IServiceProvider services,
    IOptions<IntegrationOptions> options,
    ILogger<UsageLedgerWriter> logger) : BackgroundService
{
    // Five retries, 200 ms doubling (about 6 s in all), then the batch is dropped and logged: the ledger never holds up metering.
    // On the real clock, as the gathering below: a test's clock that stands still would hold a failed batch, and every
    // flush waiting for it, for ever.
    private readonly ResiliencePipeline _retry = new ResiliencePipelineBuilder { TimeProvider = TimeProvider.System, Name = "usage-ledger/write" }
        .AddRetry(new RetryStrategyOptions
        {
            MaxRetryAttempts = 5,
            Delay = TimeSpan.FromMilliseconds(200),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            ShouldHandle = new PredicateBuilder().Handle<Exception>(IsTransient),
        })
        .Build();

    private NpgsqlDataSource? _source;
    private long _processed;
    private TaskCompletionSource _progress = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _flushNow = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Rows written (or given up on) since start.</summary>
    public long Processed => Interlocked.Read(ref _processed);

    /// <summary>Waits until every row recorded before this call has been written.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var target = meter.Enqueued;
        while (true)
        {
            var progress = Volatile.Read(ref _progress);
            if (Processed >= target)
            {
                return;
            }

            Volatile.Read(ref _flushNow).TrySetResult();
            await progress.Task.WaitAsync(cancellationToken);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var source = _source = services.GetService<NpgsqlDataSource>();
        if (source is null)
        {
            LogNoDatabase(logger);
        }

        try
        {
            while (await meter.Reader.WaitToReadAsync(stoppingToken))
            {
                await GatherAsync(stoppingToken);
                await DrainOnceAsync(source, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: StopAsync drains what is left.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        var source = _source;
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        drain.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            while (meter.Reader.TryPeek(out _))
            {
                await DrainOnceAsync(source, drain.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or NpgsqlException or ObjectDisposedException)
        {
            LogDrainFailed(logger, ex);
        }
    }

    /// <summary>Lets a batch gather: up to the flush interval, ended early by a flush asked for; not at all when a whole batch waits.</summary>
    private async Task GatherAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.Ledger.FlushInterval;
        if (interval <= TimeSpan.Zero || meter.Reader.Count >= options.Value.Ledger.BatchSize)
        {
            return;
        }

        var flushNow = Volatile.Read(ref _flushNow);
        // Wall-clock on purpose (not the app's TimeProvider, which tests move ahead): this only spaces out writes.
        await Task.WhenAny(Task.Delay(interval, stoppingToken), flushNow.Task);
        if (flushNow.Task.IsCompleted)
        {
            Interlocked.CompareExchange(ref _flushNow, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), flushNow);
        }

        stoppingToken.ThrowIfCancellationRequested();
    }

    private async Task DrainOnceAsync(NpgsqlDataSource? source, CancellationToken cancellationToken)
    {
        var size = options.Value.Ledger.BatchSize;
        var usage = new List<UsageRow>(Math.Min(size, 256));
        var cache = new List<CacheRow>();
        while (usage.Count + cache.Count < size && meter.Reader.TryRead(out var row))
        {
            if (row is UsageRow u)
            {
                usage.Add(u);
            }
            else if (row is CacheRow c)
            {
                cache.Add(c);
            }
        }

        if (source is not null)
        {
            await WriteWithRetryAsync(source, usage, cache, cancellationToken);
        }

        Interlocked.Add(ref _processed, usage.Count + cache.Count);
        Interlocked.Exchange(ref _progress, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    private async Task WriteWithRetryAsync(NpgsqlDataSource source, List<UsageRow> usage, List<CacheRow> cache, CancellationToken cancellationToken)
    {
        try
        {
            await _retry.ExecuteAsync(
                static async (state, ct) => await WriteAsync(state.source, state.usage, state.cache, ct),
                (source, usage, cache),
                cancellationToken);
        }
        catch (Exception ex) when (IsTransient(ex) && !cancellationToken.IsCancellationRequested)
        {
            LogDropped(logger, usage.Count + cache.Count, ex);
        }
    }

    // The database restarting or out of reach; a batch that Postgres refuses outright is not retried either way.
    private static bool IsTransient(Exception ex) => ex is NpgsqlException or System.Net.Sockets.SocketException or TimeoutException;

    internal static async Task WriteAsync(NpgsqlDataSource source, IReadOnlyList<UsageRow> usage, IReadOnlyList<CacheRow> cache, CancellationToken cancellationToken)
    {
        await using var connection = await source.OpenConnectionAsync(cancellationToken);
        if (usage.Count > 0)
        {
            await using var import = await connection.BeginBinaryImportAsync(
                "COPY usage_ledger (at, service, capability, provider, operation, unit, units, cost_usd, duration_ms, outcome, user_id, error) FROM STDIN (FORMAT BINARY)",
                cancellationToken);
            foreach (var row in usage)
            {
                await import.StartRowAsync(cancellationToken);
                await import.WriteAsync(row.At, NpgsqlDbType.TimestampTz, cancellationToken);
                await import.WriteAsync(row.Service, NpgsqlDbType.Text, cancellationToken);
                await import.WriteAsync(row.Capability, NpgsqlDbType.Text, cancellationToken);
                await import.WriteAsync(row.Provider, NpgsqlDbType.Text, cancellationToken);
                await import.WriteAsync(row.Operation, NpgsqlDbType.Text, cancellationToken);
                await import.WriteAsync(row.Unit, NpgsqlDbType.Text, cancellationToken);
                await import.WriteAsync(row.Units, NpgsqlDbType.Numeric, cancellationToken);
                await import.WriteAsync(row.CostUsd, NpgsqlDbType.Numeric, cancellationToken);
                await import.WriteAsync(row.DurationMs, NpgsqlDbType.Double, cancellationToken);
                await import.WriteAsync(row.Outcome, NpgsqlDbType.Text, cancellationToken);
                await WriteNullableAsync(import, row.UserId, cancellationToken);
                await WriteNullableAsync(import, row.Error, cancellationToken);
            }

            await import.CompleteAsync(cancellationToken);
        }

        if (cache.Count > 0)
        {
            await using var import = await connection.BeginBinaryImportAsync(
                "COPY cache_ledger (at, capability, provider, hit, saved_usd) FROM STDIN (FORMAT BINARY)", cancellationToken);
            foreach (var row in cache)
            {
                await import.StartRowAsync(cancellationToken);
                await import.WriteAsync(row.At, NpgsqlDbType.TimestampTz, cancellationToken);
                await import.WriteAsync(row.Capability, NpgsqlDbType.Text, cancellationToken);
                await import.WriteAsync(row.Provider, NpgsqlDbType.Text, cancellationToken);
                await import.WriteAsync(row.Hit, NpgsqlDbType.Boolean, cancellationToken);
                await import.WriteAsync(row.SavedUsd, NpgsqlDbType.Numeric, cancellationToken);
            }

            await import.CompleteAsync(cancellationToken);
        }
    }

    private static Task WriteNullableAsync(NpgsqlBinaryImporter import, string? value, CancellationToken cancellationToken) =>
        value is null ? import.WriteNullAsync(cancellationToken) : import.WriteAsync(value, NpgsqlDbType.Text, cancellationToken);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No database registered: the usage ledger is off, metering goes to metrics only")]
    private static partial void LogNoDatabase(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "Dropped {Count} usage ledger rows after repeated write failures")]
    private static partial void LogDropped(ILogger logger, int count, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not drain the usage ledger buffer at shutdown")]
    private static partial void LogDrainFailed(ILogger logger, Exception exception);
}
