using Microsoft.Extensions.Diagnostics.HealthChecks;
using Sunaiva.Integration;

namespace Sunaiva.Voice.Tts;

/// <summary>
/// This process's TTS cache figures since start, by tier, for <c>/ops/status</c> (the usage ledger keeps the durable
/// hits, misses and saved cost per provider, shown on the ops dashboard).
/// </summary>
public sealed class TtsCacheStats(PriceBook prices)
{
    private readonly Lock _gate = new();
    private long _memoryHits;
    private long _storageHits;
    private long _misses;
    private long _stored;
    private decimal _saved;

    public void Hit(string provider, int characters, bool fromStorage)
    {
        Interlocked.Increment(ref fromStorage ? ref _storageHits : ref _memoryHits);
        var saved = prices.Cost(provider, "characters", characters);
        lock (_gate)
        {
            _saved += saved;
        }
    }

    public void Miss() => Interlocked.Increment(ref _misses);

    public void Stored() => Interlocked.Increment(ref _stored);

    public long Hits => Interlocked.Read(ref _memoryHits) + Interlocked.Read(ref _storageHits);

    public long Misses => Interlocked.Read(ref _misses);

    public decimal SavedUsd
    {
        get
        {
            lock (_gate)
            {
                return _saved;
            }
        }
    }

    public string Describe(bool storageEnabled, long storageFailures)
    {
        var lookups = Hits + Misses;
        var rate = lookups == 0 ? "no lookups yet" : $"hit rate {100.0 * Hits / lookups:0.0}% ({Hits} hits, {Misses} misses)";
        var storage = storageEnabled
            ? $"object storage: {Interlocked.Read(ref _storageHits)} hits, {Interlocked.Read(ref _stored)} clips stored, {storageFailures} failed calls"
            : "object storage: not configured";
        return $"{rate}; ${SavedUsd:0.######} saved since start; {storage}";
    }
}

/// <summary>The TTS cache on <c>/ops/status</c>: hit rate and money saved; degraded for 5 minutes after object storage failed (speech goes on, uncached).</summary>
public sealed class TtsCacheHealthCheck(TtsCacheStats stats, TtsStorage storage, TimeProvider time) : IHealthCheck
{
    private static readonly TimeSpan Recent = TimeSpan.FromMinutes(5);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failures = storage.Failures;
        var newFailures = storage.LastFailureAt is { } last && time.GetUtcNow() - last < Recent;
        var data = new Dictionary<string, object> { ["hits"] = stats.Hits, ["misses"] = stats.Misses, ["savedUsd"] = stats.SavedUsd };
        var detail = stats.Describe(storage.Enabled, failures);
        return Task.FromResult(newFailures
            ? HealthCheckResult.Degraded(
                $"object storage failing{(storage.CircuitOpen ? " and its circuit open (not asked)" : "")}, large clips served uncached; {detail}", data: data)
            : HealthCheckResult.Healthy(detail, data));
    }
}
