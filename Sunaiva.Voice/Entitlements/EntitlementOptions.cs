using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Voice.Entitlements;

/// <summary>Cloud realtime minutes per user per day by plan (section <c>Voice:Entitlements</c>).</summary>
public sealed class EntitlementOptions
{
    public const string SectionName = "Voice:Entitlements";

    /// <summary>Minutes a day for users without an active subscription.</summary>
    [Range(0, 1440, ErrorMessage = "Voice:Entitlements:FreeMinutesPerDay must be between 0 and 1440.")]
    public int FreeMinutesPerDay { get; set; } = 10;

    /// <summary>Minutes a day for an active subscription whose plan is not listed in <see cref="Plans"/>.</summary>
    [Range(0, 1440, ErrorMessage = "Voice:Entitlements:PaidMinutesPerDay must be between 0 and 1440.")]
    public int PaidMinutesPerDay { get; set; } = 60;

    /// <summary>Minutes a day per plan (Billing's plan names, e.g. plus-monthly).</summary>
    public Dictionary<string, int> Plans { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long a user's plan is cached; a subscription event clears it sooner.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Voice:Entitlements:CacheFor must be between 1 s and 1 h.")]
    public TimeSpan CacheFor { get; set; } = TimeSpan.FromMinutes(5);

    public int MinutesFor(string? plan) =>
        plan is null ? FreeMinutesPerDay : Plans.TryGetValue(plan, out var minutes) ? minutes : PaidMinutesPerDay;
}
