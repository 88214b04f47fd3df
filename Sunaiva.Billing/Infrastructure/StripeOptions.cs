using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Sunaiva.Billing.Infrastructure;

/// <summary>Stripe account, plans, commissions and payouts (section <c>Stripe</c>).</summary>
public sealed class StripeOptions
{
    public const string SectionName = "Stripe";

    /// <summary>Secret or restricted key (AppHost parameter stripe-secret-key). Empty: billing answers 503.</summary>
    public string? SecretKey { get; set; }

    /// <summary>Signing secret of the webhook endpoint (AppHost parameter stripe-webhook-secret).</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>Base URL of the Stripe API; tests and local stand-ins point it elsewhere.</summary>
    [Required]
    [Url]
    public string ApiBase { get; set; } = "https://api.stripe.com";

    /// <summary>Tolerance of the webhook signature timestamp.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "00:30:00")]
    public TimeSpan WebhookTolerance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Retries Stripe.net makes itself, with the same idempotency key.</summary>
    [Range(0, 5)]
    public int MaxNetworkRetries { get; set; } = 2;

    [Range(typeof(TimeSpan), "00:00:05", "00:05:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(80);

    [Required]
    [Url]
    public string SuccessUrl { get; set; } = "http://localhost:5173/billing/success?session_id={CHECKOUT_SESSION_ID}";

    [Required]
    [Url]
    public string CancelUrl { get; set; } = "http://localhost:5173/billing/cancel";

    [Required]
    [Url]
    public string PortalReturnUrl { get; set; } = "http://localhost:5173/account";

    [Required]
    [Url]
    public string ConnectRefreshUrl { get; set; } = "http://localhost:5173/influencers/onboarding/refresh";

    [Required]
    [Url]
    public string ConnectReturnUrl { get; set; } = "http://localhost:5173/influencers/onboarding/done";

    /// <summary>Country of the platform's Stripe account: decides which influencers' countries can be paid (cross-border rules).</summary>
    [Required]
    [RegularExpression("^[A-Z]{2}$", ErrorMessage = "Stripe:PlatformCountry must be an upper-case ISO 3166-1 alpha-2 code (the platform account's country).")]
    public string PlatformCountry { get; set; } = "US";

    /// <summary>Let Stripe Tax compute tax at checkout (needs Stripe Tax set up in the account).</summary>
    public bool AutomaticTax { get; set; }

    /// <summary>Plans by name (e.g. plus-monthly); each is one Stripe price with currency options.</summary>
    public Dictionary<string, PlanOptions> Plans { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Currency by ISO country; countries not listed pay in <see cref="DefaultCurrency"/>.</summary>
    public Dictionary<string, string> CountryCurrencies { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    [Required]
    [RegularExpression("^[a-z]{3}$")]
    public string DefaultCurrency { get; set; } = "usd";

    /// <summary>Share of the amount paid (net of tax and discounts) credited to the referring influencer.</summary>
    [Range(0.0, 1.0)]
    public decimal CommissionRate { get; set; } = 0.20m;

    /// <summary>Commissions become payable after this (the refund window).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "365.00:00:00")]
    public TimeSpan HoldPeriod { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Access kept after a failed payment while Stripe's Smart Retries try again.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "60.00:00:00")]
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromDays(7);

    [Range(0.01, 1_000_000)]
    public decimal PayoutMinimumUsd { get; set; } = 50m;

    /// <summary>Day of month (UTC) of the automatic payout run; 0 switches the schedule off.</summary>
    [Range(0, 28)]
    public int PayoutDayOfMonth { get; set; } = 1;

    [Range(0, 23)]
    public int PayoutHourUtc { get; set; }

    /// <summary>Transfers made in parallel during a payout run.</summary>
    [Range(1, 32)]
    public int PayoutConcurrency { get; set; } = 4;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(SecretKey);

    public long PayoutMinimumCents => (long)Math.Round(PayoutMinimumUsd * 100m, MidpointRounding.AwayFromZero);

    public string CurrencyFor(string? country) =>
        country is not null && CountryCurrencies.TryGetValue(country, out var currency) ? currency.ToLowerInvariant() : DefaultCurrency;

    public (string Name, PlanOptions Plan)? PlanForPrice(string? priceId) =>
        Plans.Where(p => p.Value.PriceId == priceId).Select(p => ((string, PlanOptions)?)(p.Key, p.Value)).FirstOrDefault();
}

/// <summary>A plan: one Stripe price (with currency options) and what it unlocks.</summary>
public sealed class PlanOptions
{
    [Required]
    public string PriceId { get; set; } = string.Empty;

    /// <summary>month or year.</summary>
    [Required]
    [RegularExpression("^(month|year)$")]
    public string Interval { get; set; } = "month";

    /// <summary>Currencies the price has options for.</summary>
    public List<string> Currencies { get; set; } = [];

    public List<string> Entitlements { get; set; } = [];
}

/// <summary>Checks what data annotations cannot: keys' shape, plans and currencies.</summary>
public sealed class StripeOptionsValidator : IValidateOptions<StripeOptions>
{
    public ValidateOptionsResult Validate(string? name, StripeOptions options)
    {
        var failures = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.SecretKey) && !options.SecretKey.StartsWith("sk_", StringComparison.Ordinal) && !options.SecretKey.StartsWith("rk_", StringComparison.Ordinal))
        {
            failures.Add("Stripe:SecretKey must be a secret (sk_) or restricted (rk_) key.");
        }

        if (!string.IsNullOrWhiteSpace(options.WebhookSecret) && !options.WebhookSecret.StartsWith("whsec_", StringComparison.Ordinal))
        {
            failures.Add("Stripe:WebhookSecret must be an endpoint signing secret (whsec_).");
        }

        foreach (var (planName, plan) in options.Plans)
        {
            var context = new ValidationContext(plan);
            var results = new List<ValidationResult>();
            if (!Validator.TryValidateObject(plan, context, results, validateAllProperties: true))
            {
                failures.AddRange(results.Select(r => $"Stripe:Plans:{planName}: {r.ErrorMessage}"));
            }
        }

        foreach (var (country, currency) in options.CountryCurrencies)
        {
            if (currency.Length != 3)
            {
                failures.Add($"Stripe:CountryCurrencies:{country} must be a three-letter currency code.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
