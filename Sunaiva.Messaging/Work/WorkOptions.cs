using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Messaging.Work;

/// <summary>Retries of one kind of work: attempts and the back-off between them.</summary>
public sealed class WorkPolicy
{
    [Range(1, 1000)]
    public int MaxAttempts { get; set; } = 12;

    /// <summary>The first retry waits this long; each next one twice as long, up to <see cref="MaxDelay"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(2);

    [Range(typeof(TimeSpan), "00:00:00.001", "1.00:00:00")]
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The wait before retry number <paramref name="attempts"/> + 1.</summary>
    public TimeSpan DelayAfter(int attempts)
    {
        var factor = Math.Pow(2, Math.Clamp(attempts - 1, 0, 30));
        var ms = Math.Min(BaseDelay.TotalMilliseconds * factor, MaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ms);
    }
}

/// <summary>The durable work runner (section <c>Work</c>).</summary>
public sealed class WorkOptions
{
    public const string SectionName = "Work";

    /// <summary>Items run at the same time by one replica.</summary>
    [Range(1, 256)]
    public int Concurrency { get; set; } = 16;

    /// <summary>How long a claimed item is reserved; renewed while its handler runs, taken over after a crash.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan Lease { get; set; } = TimeSpan.FromSeconds(30);

    [Range(typeof(TimeSpan), "00:00:00.005", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Finished items (done, ignored) are kept this long as the idempotency record of their key.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "365.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(14);

    /// <summary>The policy of kinds not named in <see cref="Kinds"/>.</summary>
    public WorkPolicy Default { get; set; } = new();

    /// <summary>
    /// Per kind ("webhook:stripe", "email.send", "event:*" for every event handler). In configuration, where ':' separates
    /// sections, write '.' instead: <c>Work:Kinds:webhook.stripe:MaxAttempts</c>.
    /// </summary>
    public Dictionary<string, WorkPolicy> Kinds { get; set; } = new(StringComparer.Ordinal);

    public WorkPolicy PolicyFor(string kind)
    {
        if (Kinds.TryGetValue(kind.Replace(':', '.'), out var configured) || Kinds.TryGetValue(kind, out configured))
        {
            return configured;
        }

        var colon = kind.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && (Kinds.TryGetValue(kind[..colon] + ".*", out var family) || Kinds.TryGetValue(kind[..(colon + 1)] + "*", out family)) ? family : Default;
    }
}
