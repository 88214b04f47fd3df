using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Sunaiva.Integration;

/// <summary>The integration kernel's configuration (section <c>Integration</c>): chains, providers, prices, limits, chaos.</summary>
public sealed class IntegrationOptions
{
    public const string SectionName = "Integration";

    /// <summary>Ordered adapters and deadline per capability ("tts", "video", "email-delivery", ...).</summary>
    public Dictionary<string, CapabilityOptions> Capabilities { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Per provider: pipeline settings, price book, rate limits and quotas, chaos.</summary>
    public Dictionary<string, ProviderOptions> Providers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    [Required]
    public LedgerOptions Ledger { get; set; } = new();

    /// <summary>Whether ops may switch chaos at run time (<c>PUT /ops/chaos</c>).</summary>
    [Required]
    public ChaosGateOptions Chaos { get; set; } = new();

    public ProviderOptions ProviderOrDefault(string provider) =>
        Providers.TryGetValue(provider, out var options) ? options : DefaultProvider;

    internal static readonly ProviderOptions DefaultProvider = new();
}

/// <summary>One capability's chain.</summary>
public sealed class CapabilityOptions
{
    /// <summary>Provider names in order of preference; empty means the order the service registered them.</summary>
    public List<string> Adapters { get; set; } = [];

    /// <summary>Deadline of the whole chain, all adapters and retries included.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Deadline for streaming operations (relays, SSE, long renders), which have no attempt timeout.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan StreamingDeadline { get; set; } = TimeSpan.FromHours(2);

    /// <summary>
    /// The most a hanging provider may cost a caller: an adapter that has not answered within it is abandoned for the
    /// next adapter (the last adapter keeps its attempt timeout). Does not apply to streams (see the chunk deadlines).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan LatencyBudget { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A stream whose first chunk has not come within this is a failed attempt: the next adapter serves.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan FirstChunkDeadline { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A stream with no next chunk within this has stalled.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan InterChunkDeadline { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>One provider: how its calls are guarded, priced, limited and disturbed.</summary>
public sealed class ProviderOptions
{
    public string? DisplayName { get; set; }

    /// <summary>Where the provider is documented (for docs/providers.md).</summary>
    public string? Docs { get; set; }

    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    [Required]
    public RetrySettings Retry { get; set; } = new();

    [Required]
    public BreakerSettings CircuitBreaker { get; set; } = new();

    /// <summary>Price per unit, keyed by unit name (characters, tokens, audio-seconds, video-seconds, emails, transfers, api-calls).</summary>
    public Dictionary<string, PriceEntry> Prices { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Documented rate limits and quotas.</summary>
    public List<LimitEntry> Limits { get; set; } = [];

    [Required]
    public ChaosSettings Chaos { get; set; } = new();
}

public sealed class RetrySettings
{
    /// <summary>Retries after the first attempt; only idempotent operations are retried.</summary>
    [Range(0, 10)]
    public int MaxRetries { get; set; } = 2;

    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);
}

public sealed class BreakerSettings
{
    [Range(0.01, 1.0)]
    public double FailureRatio { get; set; } = 0.5;

    [Range(2, 100_000)]
    public int MinimumThroughput { get; set; } = 5;

    /// <summary>Window the failure ratio is measured over; at steady traffic a full outage opens the circuit within about this long.</summary>
    [Range(typeof(TimeSpan), "00:00:00.5", "1.00:00:00")]
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(10);

    [Range(typeof(TimeSpan), "00:00:00.5", "1.00:00:00")]
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>A documented fact about a provider: where it was read, and when.</summary>
public abstract class SourcedEntry
{
    [Required]
    public string Source { get; set; } = string.Empty;

    [Required]
    [RegularExpression(@"^\d{4}-\d{2}(-\d{2})?$")]
    public string Date { get; set; } = string.Empty;

    public string? Note { get; set; }
}

/// <summary>A price with where it was read and when.</summary>
public sealed class PriceEntry : SourcedEntry
{
    [Range(0, 1_000_000)]
    public decimal UsdPerUnit { get; set; }

}

/// <summary>A documented limit: <see cref="Permits"/> per <see cref="Window"/>, counted per provider account or per user.</summary>
public sealed class LimitEntry : SourcedEntry
{
    [Required]
    public string Name { get; set; } = "requests";

    /// <summary>"requests" limits calls and is enforced client-side; any other unit is a quota shown against usage.</summary>
    [Required]
    public string Unit { get; set; } = "requests";

    [Range(1, long.MaxValue)]
    public long Permits { get; set; }

    [Range(typeof(TimeSpan), "00:00:00.001", "31.00:00:00")]
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    public bool PerUser { get; set; }

    /// <summary>How many callers may wait for a permit before the call is refused as throttled.</summary>
    [Range(0, 100_000)]
    public int QueueLimit { get; set; } = 100;

}

/// <summary>Fault injection for one provider; switchable at run time through <c>/ops/chaos</c>.</summary>
public sealed class ChaosSettings
{
    /// <summary>Share of calls that fail with an injected fault (0..1).</summary>
    [Range(0.0, 1.0)]
    public double FaultRate { get; set; }

    /// <summary>Share of calls delayed by <see cref="Latency"/> (0..1).</summary>
    [Range(0.0, 1.0)]
    public double LatencyRate { get; set; }

    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan Latency { get; set; }

    /// <summary>Every call fails: the provider is down.</summary>
    public bool Outage { get; set; }

    public bool Active => Outage || FaultRate > 0 || (LatencyRate > 0 && Latency > TimeSpan.Zero);

    public ChaosSettings Clone() => (ChaosSettings)MemberwiseClone();
}

/// <summary>Run-time chaos switches are a Development tool; elsewhere they stay off unless configured on.</summary>
public sealed class ChaosGateOptions
{
    /// <summary><c>Integration:Chaos:AllowInProduction</c>: accept <c>PUT /ops/chaos</c> outside Development (a staging drill).</summary>
    public bool AllowInProduction { get; set; }
}

public sealed class LedgerOptions
{
    /// <summary>Rows buffered in memory before new ones are dropped (and counted).</summary>
    [Range(100, 10_000_000)]
    public int Capacity { get; set; } = 100_000;

    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 1_000;

    /// <summary>
    /// How long the writer lets rows gather after the first of a spell before it writes them (unless a whole batch is
    /// waiting, or <c>UsageLedgerWriter.FlushAsync</c> asks): one COPY for the calls of that spell instead of one per call.
    /// Zero writes at once.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>Validates the options tree: data annotations of every nested object, and the names chains refer to.</summary>
internal sealed class IntegrationOptionsValidator : IValidateOptions<IntegrationOptions>
{
    public ValidateOptionsResult Validate(string? name, IntegrationOptions options)
    {
        var errors = new List<string>();
        Check(options.Ledger, "Integration:Ledger", errors);
        foreach (var (capability, chain) in options.Capabilities)
        {
            var at = $"Integration:Capabilities:{capability}";
            Check(chain, at, errors);
            if (chain.FirstChunkDeadline > chain.StreamingDeadline || chain.InterChunkDeadline > chain.StreamingDeadline)
            {
                errors.Add($"{at}:FirstChunkDeadline and {at}:InterChunkDeadline must not exceed {at}:StreamingDeadline ({chain.StreamingDeadline}).");
            }
        }

        foreach (var (provider, p) in options.Providers)
        {
            var at = $"Integration:Providers:{provider}";
            Check(p, at, errors);
            Check(p.Retry, at + ":Retry", errors);
            Check(p.CircuitBreaker, at + ":CircuitBreaker", errors);
            Check(p.Chaos, at + ":Chaos", errors);
            foreach (var (unit, price) in p.Prices)
            {
                Check(price, $"{at}:Prices:{unit}", errors);
            }

            for (var i = 0; i < p.Limits.Count; i++)
            {
                Check(p.Limits[i], $"{at}:Limits:{i}", errors);
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Check(object value, string path, List<string> errors)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(value, new ValidationContext(value), results, validateAllProperties: true))
        {
            errors.AddRange(results.Select(r => $"{path}: {r.ErrorMessage}"));
        }
    }
}
