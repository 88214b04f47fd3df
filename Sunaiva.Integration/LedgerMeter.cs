using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace Sunaiva.Integration;

/// <summary>A metered call as stored: who, what, how much, how it ended.</summary>
public sealed record UsageRow(
    DateTimeOffset At,
    string Service,
    string Capability,
    string Provider,
    string Operation,
    string Unit,
    decimal Units,
    decimal CostUsd,
    double DurationMs,
    string Outcome,
    string? UserId,
    string? Error);

/// <summary>A cache lookup of a provider answer.</summary>
public sealed record CacheRow(DateTimeOffset At, string Capability, string Provider, bool Hit, decimal SavedUsd);

/// <summary>
/// The kernel's meter: prices each call, records OTel metrics at once, and queues a ledger row for the background
/// writer. Never blocks: when the buffer is full the row is dropped and counted.
/// </summary>
public sealed class LedgerMeter : IIntegrationMeter
{
    private readonly Channel<object> _queue;
    private readonly IntegrationTelemetry _telemetry;
    private readonly PriceBook _prices;
    private readonly TimeProvider _time;
    private long _enqueued;

    public LedgerMeter(IntegrationTelemetry telemetry, PriceBook prices, IOptions<IntegrationOptions> options, TimeProvider time)
    {
        _telemetry = telemetry;
        _prices = prices;
        _time = time;
        _queue = Channel.CreateBounded<object>(new BoundedChannelOptions(options.Value.Ledger.Capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
        });
    }

    internal ChannelReader<object> Reader => _queue.Reader;

    /// <summary>Rows accepted into the buffer since start.</summary>
    internal long Enqueued => Interlocked.Read(ref _enqueued);

    public void Record(MeteredCall call)
    {
        var cost = _prices.Cost(call.Provider, call.Unit, call.Units);
        _telemetry.RecordCall(call, cost);
        Enqueue(new UsageRow(_time.GetUtcNow(), _telemetry.Service, call.Capability, call.Provider, call.Operation, call.Unit, call.Units, cost,
            call.Duration.TotalMilliseconds, IntegrationTelemetry.OutcomeName(call.Outcome), call.UserId, call.Error));
    }

    /// <summary>Records a lookup of a cached provider answer; a hit saves what the call would have cost.</summary>
    public void RecordCache(string capability, string provider, bool hit, string unit, decimal units)
    {
        var saved = hit ? _prices.Cost(provider, unit, units) : 0m;
        _telemetry.RecordCache(capability, provider, hit, saved);
        Enqueue(new CacheRow(_time.GetUtcNow(), capability, provider, hit, saved));
    }

    private void Enqueue(object row)
    {
        if (_queue.Writer.TryWrite(row))
        {
            Interlocked.Increment(ref _enqueued);
        }
        else
        {
            _telemetry.RecordDropped();
        }
    }

    internal void Complete() => _queue.Writer.TryComplete();
}
