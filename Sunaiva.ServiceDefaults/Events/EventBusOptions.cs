using System.ComponentModel.DataAnnotations;

namespace Sunaiva.ServiceDefaults.Events;

/// <summary>Tuning of the outbox relay and the stream consumer (section <c>EventBus</c>).</summary>
public sealed class EventBusOptions
{
    public const string SectionName = "EventBus";

    /// <summary>How long a message may stay pending with a consumer before another claims it.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan ClaimIdleTime { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Deliveries after which a failing message goes to the dead-letter stream (about 25 minutes of retries by default).</summary>
    [Range(1, 100)]
    public int MaxDeliveries { get; set; } = 10;

    /// <summary>The longest wait between two deliveries of a failing message.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "06:00:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(5);

    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    [Range(1, 1000)]
    public int BatchSize { get; set; } = 50;

    /// <summary>Approximate length the stream is trimmed to.</summary>
    [Range(1000, 100_000_000)]
    public int MaxStreamLength { get; set; } = 1_000_000;
}
