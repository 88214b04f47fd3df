using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Engagement.Welcome;

/// <summary>
/// The welcome series (section <c>Email:Welcome</c>): each step a template sent on a day after signup, skipped when the
/// user already did what it asks (<see cref="StopWhen"/>). Defaults: day 0, 1 (try voice), 3 (upload a file), 7 (subscribe).
/// </summary>
public sealed class WelcomeSeriesOptions : IValidatableObject
{
    public const string SectionName = "Email:Welcome";

    /// <summary>Steps in order; empty in configuration means the defaults.</summary>
    public List<WelcomeStep> Steps { get; set; } = [];

    public static IReadOnlyList<WelcomeStep> Defaults { get; } =
    [
        new() { Template = "welcome-1", Day = 0, StopWhen = WelcomeActivities.None },
        new() { Template = "welcome-2", Day = 1, StopWhen = WelcomeActivities.Voice },
        new() { Template = "welcome-3", Day = 3, StopWhen = WelcomeActivities.File },
        new() { Template = "welcome-4", Day = 7, StopWhen = WelcomeActivities.Subscription },
    ];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (var i = 0; i < Steps.Count; i++)
        {
            var step = Steps[i];
            var key = $"{SectionName}:Steps:{i}";
            if (string.IsNullOrWhiteSpace(step.Template))
            {
                yield return new ValidationResult($"{key}:Template is required.", [$"{key}:Template"]);
            }

            if (step.Day is < 0 or > 365)
            {
                yield return new ValidationResult($"{key}:Day must be between 0 and 365.", [$"{key}:Day"]);
            }

            if (i > 0 && step.Day <= Steps[i - 1].Day)
            {
                yield return new ValidationResult($"{key}:Day must be later than step {i - 1}'s day.", [$"{key}:Day"]);
            }

            if (!WelcomeActivities.All.Contains(step.StopWhen, StringComparer.Ordinal))
            {
                yield return new ValidationResult($"{key}:StopWhen must be one of {string.Join(", ", WelcomeActivities.All)}.", [$"{key}:StopWhen"]);
            }
        }
    }
}

/// <summary>One step of the welcome series.</summary>
public sealed class WelcomeStep
{
    public string Template { get; set; } = string.Empty;

    public int Day { get; set; }

    /// <summary>The activity that makes this step pointless (<see cref="WelcomeActivities"/>).</summary>
    public string StopWhen { get; set; } = WelcomeActivities.None;
}

/// <summary>Activities recorded from other services' events (<c>user_activity.activity</c>).</summary>
public static class WelcomeActivities
{
    public const string None = "none";
    public const string Voice = "voice";
    public const string File = "file";
    public const string Subscription = "subscription";

    public static readonly IReadOnlyList<string> All = [None, Voice, File, Subscription];
}
