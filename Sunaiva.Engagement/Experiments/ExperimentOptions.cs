using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Engagement.Experiments;

/// <summary>A/B tests of campaign steps (section <c>Email:Experiments</c>, keyed by experiment id).</summary>
public sealed class ExperimentsOptions : IValidatableObject
{
    public const string SectionName = "Email:Experiments";

    public Dictionary<string, ExperimentOptions> Items { get; set; } = new(StringComparer.Ordinal);

    public ExperimentOptions? ForTemplate(string template) => Items.Values.FirstOrDefault(e => e.Template == template);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (id, e) in Items)
        {
            var key = $"{SectionName}:{id}";
            if (string.IsNullOrWhiteSpace(e.Template))
            {
                yield return new ValidationResult($"{key}:Template is required (the campaign step's template).", [$"{key}:Template"]);
            }

            if (e.Variants.Count < 2)
            {
                yield return new ValidationResult($"{key}:Variants needs at least two variants (Name and Template each).", [$"{key}:Variants"]);
            }

            if (e.Variants.Any(v => string.IsNullOrWhiteSpace(v.Name) || string.IsNullOrWhiteSpace(v.Template)) || e.Variants.DistinctBy(v => v.Name).Count() != e.Variants.Count)
            {
                yield return new ValidationResult($"{key}:Variants each need a distinct Name and a Template.", [$"{key}:Variants"]);
            }

            if (!ExperimentMetrics.All.Contains(e.Metric, StringComparer.Ordinal))
            {
                yield return new ValidationResult($"{key}:Metric must be one of {string.Join(", ", ExperimentMetrics.All)}.", [$"{key}:Metric"]);
            }

            if (e.Confidence is <= 0.5 or >= 1)
            {
                yield return new ValidationResult($"{key}:Confidence must be between 0.5 and 1 (0.95 for 95 %).", [$"{key}:Confidence"]);
            }

            if (e.ConversionDays is < 1 or > 90)
            {
                yield return new ValidationResult($"{key}:ConversionDays must be between 1 and 90.", [$"{key}:ConversionDays"]);
            }

            if (e.Variants.Any(v => v.SendHour is < 0 or > 23))
            {
                yield return new ValidationResult($"{key}:Variants:*:SendHour must be an hour 0-23 (UTC).", [$"{key}:Variants"]);
            }

            if (e.MinSamplePerVariant < 1)
            {
                yield return new ValidationResult($"{key}:MinSamplePerVariant must be at least 1.", [$"{key}:MinSamplePerVariant"]);
            }
        }
    }
}

/// <summary>One experiment: the step it tests and its variants, each a template of its own.</summary>
public sealed class ExperimentOptions
{
    /// <summary>Set from the configuration key.</summary>
    public string Id { get; set; } = string.Empty;

    /// <summary>The campaign step under test (its template name); the first variant is the control.</summary>
    public string Template { get; set; } = string.Empty;

    /// <summary>The variants in order (the first is the control); subject and content differ by template, send time by <see cref="ExperimentVariant.SendHour"/>.</summary>
    public List<ExperimentVariant> Variants { get; set; } = [];

    /// <summary>What decides: opens, clicks or conversions (<c>subscription.activated</c> within <see cref="ConversionDays"/>).</summary>
    public string Metric { get; set; } = ExperimentMetrics.Clicks;

    /// <summary>Two-sided confidence of the two-proportion z-test needed to declare a winner.</summary>
    public double Confidence { get; set; } = 0.95;

    public int MinSamplePerVariant { get; set; } = 500;

    public int ConversionDays { get; set; } = 14;

    /// <summary>How often the test is evaluated while sends go out.</summary>
    public TimeSpan EvaluateEvery { get; set; } = TimeSpan.FromMinutes(10);
}

/// <summary>One arm of an experiment.</summary>
public sealed class ExperimentVariant
{
    public string Name { get; set; } = string.Empty;

    public string Template { get; set; } = string.Empty;

    /// <summary>
    /// A send-time variant: the UTC hour (0-23) its messages go out at, for steps that are scheduled (re-engagement
    /// campaigns). Unset: the step's own time (the user's best hour).
    /// </summary>
    public int? SendHour { get; set; }
}

public static class ExperimentMetrics
{
    public const string Opens = "opens";
    public const string Clicks = "clicks";
    public const string Conversions = "conversions";

    public static readonly IReadOnlyList<string> All = [Opens, Clicks, Conversions];
}
