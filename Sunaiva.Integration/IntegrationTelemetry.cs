using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Sunaiva.Integration;

/// <summary>The service's one Meter (<c>Sunaiva.{service}</c>) and the kernel's instruments on it.</summary>
public sealed class IntegrationTelemetry
{
    public const string CallsInstrument = "sunaiva.integration.calls";
    public const string DurationInstrument = "sunaiva.integration.duration";
    public const string CostInstrument = "sunaiva.integration.cost";
    public const string UnitsInstrument = "sunaiva.integration.units";
    public const string FirstChunkInstrument = "sunaiva.integration.first_chunk";
    public const string ChunksInstrument = "sunaiva.integration.chunks";

    private readonly Counter<long> _calls;
    private readonly Histogram<double> _duration;
    private readonly Counter<double> _cost;
    private readonly Counter<double> _units;
    private readonly Histogram<double> _firstChunk;
    private readonly Counter<long> _chunks;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _cacheMisses;
    private readonly Counter<double> _cacheSaved;
    private readonly Counter<long> _ledgerDropped;

    public IntegrationTelemetry(IMeterFactory meters, ServiceIdentity identity)
    {
        Service = identity.Name;
        MeterName = MeterNameFor(identity.Name);
        Meter = meters.Create(MeterName);
        _calls = Meter.CreateCounter<long>(CallsInstrument, "{call}", "Outbound provider calls (one per attempt)");
        _duration = Meter.CreateHistogram<double>(DurationInstrument, "ms", "Duration of outbound provider calls",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000] });
        _cost = Meter.CreateCounter<double>(CostInstrument, "USD", "Cost of outbound provider calls from the price book");
        _units = Meter.CreateCounter<double>(UnitsInstrument, "{unit}", "Billable units of outbound provider calls");
        _firstChunk = Meter.CreateHistogram<double>(FirstChunkInstrument, "ms", "Time from opening a provider stream to its first chunk",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] });
        _chunks = Meter.CreateCounter<long>(ChunksInstrument, "{chunk}", "Chunks received from provider streams");
        _cacheHits = Meter.CreateCounter<long>("sunaiva.cache.hits", "{hit}", "Provider answers served from the shared cache");
        _cacheMisses = Meter.CreateCounter<long>("sunaiva.cache.misses", "{miss}", "Provider answers not found in the shared cache");
        _cacheSaved = Meter.CreateCounter<double>("sunaiva.cache.saved", "USD", "Provider cost avoided by cache hits");
        _ledgerDropped = Meter.CreateCounter<long>("sunaiva.integration.ledger.dropped", "{row}", "Ledger rows dropped because the buffer was full");
    }

    public static string MeterNameFor(string service) => $"Sunaiva.{service}";

    public string Service { get; }

    public string MeterName { get; }

    public Meter Meter { get; }

    public static ActivitySource ActivitySource { get; } = new("Sunaiva.Integration");

    internal void RecordCall(MeteredCall call, decimal cost)
    {
        var tags = new TagList
        {
            { "service", Service },
            { "capability", call.Capability },
            { "provider", call.Provider },
            { "operation", call.Operation },
            { "outcome", OutcomeName(call.Outcome) },
        };
        _calls.Add(1, tags);
        _duration.Record(call.Duration.TotalMilliseconds, tags);
        if (cost != 0)
        {
            _cost.Add((double)cost, tags);
        }

        if (call.FirstChunk is { } first)
        {
            _firstChunk.Record(first.TotalMilliseconds, tags);
        }

        if (call.Chunks is { } chunks and > 0)
        {
            _chunks.Add(chunks, tags);
        }

        if (call.Units != 0)
        {
            tags.Add("unit", call.Unit);
            _units.Add((double)call.Units, tags);
        }
    }

    internal void RecordCache(string capability, string provider, bool hit, decimal saved)
    {
        var tags = new TagList { { "service", Service }, { "capability", capability }, { "provider", provider } };
        if (hit)
        {
            _cacheHits.Add(1, tags);
            if (saved != 0)
            {
                _cacheSaved.Add((double)saved, tags);
            }
        }
        else
        {
            _cacheMisses.Add(1, tags);
        }
    }

    internal void RecordDropped() => _ledgerDropped.Add(1, new TagList { { "service", Service } });

    /// <summary>The ledger's and metrics' spelling of an outcome: ok, error, timeout, circuit-open, fallback, throttled.</summary>
    public static string OutcomeName(CallOutcome outcome) => outcome switch
    {
        CallOutcome.Ok => "ok",
        CallOutcome.Error => "error",
        CallOutcome.Timeout => "timeout",
        CallOutcome.CircuitOpen => "circuit-open",
        CallOutcome.Fallback => "fallback",
        CallOutcome.Throttled => "throttled",
        _ => outcome.ToString().ToLowerInvariant(),
    };
}
