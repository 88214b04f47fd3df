using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Sunaiva.Billing.Infrastructure;

/// <summary>A plan: one Stripe price (with currency options) and what it unlocks.</summary>
public sealed class PlanOptions
{
    [Required(ErrorMessage = "PriceId is not configured.")]
    public string PriceId { get; set; } = string.Empty;

    /// <summary>month or year.</summary>
    [Required(ErrorMessage = "Interval is not configured.")]
    [RegularExpression("^(month|year)$", ErrorMessage = "Interval must match {1}.")]
    public string Interval { get; set; } = "month";

    /// <summary>Currencies the price has options for.</summary>
    public List<string> Currencies { get; set; } = [];

    public List<string> Entitlements { get; set; } = [];
}

/// <summary>The plan's data annotations, checked by generated code; <see cref="StripeOptions"/> names each plan's key.</summary>
[OptionsValidator]
public sealed partial class PlanOptionsValidator : IValidateOptions<PlanOptions>;
