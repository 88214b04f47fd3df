using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Engagement.Segments;

/// <summary>
/// Smart re-engagement (section <c>Email:Reengagement</c>): which campaign mails which segment, the send hour used until
/// a user's own is learned, and the frequency cap every campaign send obeys.
/// </summary>
public sealed class ReengagementOptions : IValidatableObject
{
    public const string SectionName = "Email:Reengagement";

    /// <summary>Campaigns; empty in configuration means <see cref="Defaults"/>.</summary>
    public List<ReengagementCampaign> Campaigns { get; set; } = [];

    public static IReadOnlyList<ReengagementCampaign> Defaults { get; } =
    [
        new() { Id = "inactive-7", Segment = Segments.Inactive7, Template = "reengage-inactive" },
        new() { Id = "inactive-14", Segment = Segments.Inactive14, Template = "reengage-inactive" },
        new() { Id = "inactive-30", Segment = Segments.Inactive30, Template = "reengage-inactive" },
        new() { Id = "falling-activity", Segment = Segments.FallingActivity, Template = "reengage-falling" },
        new() { Id = "payment-failed", Segment = Segments.PaymentFailed, Template = "reengage-payment" },
    ];

    /// <summary>UTC hour for a user whose opens do not yet show a best hour.</summary>
    public int DefaultSendHour { get; set; } = 10;

    /// <summary>First opens needed before a user's own best hour is used.</summary>
    public int MinOpensForBestHour { get; set; } = 3;

    /// <summary>At most this many optional-category messages (any campaign) per user within <see cref="CapWindow"/>.</summary>
    public int CapMessages { get; set; } = 2;

    public TimeSpan CapWindow { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Weekly activity counts: a finished week at most this share of the week before (which had at least <see cref="FallingMinWeekly"/>) is "falling".</summary>
    public double FallingRatio { get; set; } = 0.5;

    public int FallingMinWeekly { get; set; } = 4;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < Campaigns.Count; i++)
        {
            var c = Campaigns[i];
            var key = $"{SectionName}:Campaigns:{i}";
            if (string.IsNullOrWhiteSpace(c.Id) || string.IsNullOrWhiteSpace(c.Template))
            {
                yield return new ValidationResult($"{key}:Id and {key}:Template are required.", [$"{key}:Id"]);
            }

            if (!Segments.All.Contains(c.Segment, StringComparer.Ordinal))
            {
                yield return new ValidationResult($"{key}:Segment must be one of {string.Join(", ", Segments.All)}.", [$"{key}:Segment"]);
            }
        }

        if (Campaigns.DistinctBy(c => c.Id).Count() != Campaigns.Count)
        {
            yield return new ValidationResult($"{SectionName}:Campaigns need distinct ids.", [$"{SectionName}:Campaigns"]);
        }

        if (DefaultSendHour is < 0 or > 23)
        {
            yield return new ValidationResult($"{SectionName}:DefaultSendHour must be an hour 0-23 (UTC).", [$"{SectionName}:DefaultSendHour"]);
        }

        if (CapMessages < 1 || CapWindow <= TimeSpan.Zero)
        {
            yield return new ValidationResult($"{SectionName}:CapMessages must be at least 1 and {SectionName}:CapWindow positive.", [$"{SectionName}:CapMessages"]);
        }

        if (FallingRatio is <= 0 or >= 1)
        {
            yield return new ValidationResult($"{SectionName}:FallingRatio must be between 0 and 1.", [$"{SectionName}:FallingRatio"]);
        }
    }
}

/// <summary>One re-engagement campaign: a template mailed once each time a user enters its segment.</summary>
public sealed class ReengagementCampaign
{
    public string Id { get; set; } = string.Empty;

    public string Segment { get; set; } = string.Empty;

    public string Template { get; set; } = string.Empty;
}

/// <summary>The segments Engagement keeps.</summary>
public static class Segments
{
    /// <summary>No activity for 7 to 13 days (the inactivity bands are exclusive: entering 14 leaves 7).</summary>
    public const string Inactive7 = "inactive-7";
    public const string Inactive14 = "inactive-14";
    public const string Inactive30 = "inactive-30";
    public const string FallingActivity = "falling-activity";
    public const string PaymentFailed = "payment-failed";

    public static readonly IReadOnlyList<string> All = [Inactive7, Inactive14, Inactive30, FallingActivity, PaymentFailed];

    /// <summary>The inactivity thresholds in days, in order.</summary>
    public static readonly IReadOnlyList<int> InactiveDays = [7, 14, 30];

    public static string Inactive(int days) => $"inactive-{days}";
}
