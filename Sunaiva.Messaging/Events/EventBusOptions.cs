using Sunaiva.Contracts;
using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Messaging.Events;

/// <summary>Tuning of the outbox relay and the stream bridge (section <c>EventBus</c>).</summary>
public sealed class EventBusOptions
{
    public const string SectionName = "EventBus";

    /// <summary>How long a stream entry may stay pending with a consumer before another replica takes it over.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan ClaimIdleTime { get; set; } = TimeSpan.FromSeconds(15);

    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    [Range(1, 1000)]
    public int BatchSize { get; set; } = 100;

    /// <summary>Approximate length the stream is trimmed to.</summary>
    [Range(1000, 100_000_000)]
    public int MaxStreamLength { get; set; } = 1_000_000;

    /// <summary>How long the relay reserves outbox rows it is publishing (taken over after a crash).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan RelayLease { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// When Redis comes back without its data (a new epoch), events published within this window are published again;
    /// consumers drop the copies they already have by event id.
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan RepublishWindow { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Published outbox rows are kept this long (for republishing), then deleted.</summary>
    [Range(typeof(TimeSpan), "01:00:00", "365.00:00:00")]
    public TimeSpan OutboxRetention { get; set; } = TimeSpan.FromDays(7);
}
