using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Billing.Infrastructure;

/// <summary>Stripe account, plans, commissions and payouts (section <c>Stripe</c>).</summary>
public sealed class StripeOptions : IValidatableObject
{
    public const string SectionName = "Stripe";

    /// <summary>Secret or restricted key (AppHost parameter stripe-secret-key). Empty: billing answers 503.</summary>
    public string? SecretKey { get; set; }

    /// <summary>Signing secret of the webhook endpoint (AppHost parameter stripe-webhook-secret).</summary>
    public string? WebhookSecret { get; set; }

    /// <summary>Base URL of the Stripe API; tests and local stand-ins point it elsewhere.</summary>
    [Required(ErrorMessage = "Stripe:ApiBase is not configured.")]
    [Url(ErrorMessage = "Stripe:ApiBase must be an absolute URL.")]
    public string ApiBase { get; set; } = "https://api.stripe.com";

    /// <summary>Tolerance of the webhook signature timestamp.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "00:30:00", ErrorMessage = "Stripe:WebhookTolerance must lie between {1} and {2}.")]
    public TimeSpan WebhookTolerance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Retries Stripe.net makes itself, with the same idempotency key.</summary>
    [Range(0, 5, ErrorMessage = "Stripe:MaxNetworkRetries must lie between {1} and {2}.")]
    public int MaxNetworkRetries { get; set; } = 2;

    [Range(typeof(TimeSpan), "00:00:05", "00:05:00", ErrorMessage = "Stripe:RequestTimeout must lie between {1} and {2}.")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(80);

    [Required(ErrorMessage = "Stripe:SuccessUrl is not configured.")]
    [Url(ErrorMessage = "Stripe:SuccessUrl must be an absolute URL.")]
    public string SuccessUrl { get; set; } = "http://localhost:5173/billing/success?session_id={CHECKOUT_SESSION_ID}";

    [Required(ErrorMessage = "Stripe:CancelUrl is not configured.")]
    [Url(ErrorMessage = "Stripe:CancelUrl must be an absolute URL.")]
    public string CancelUrl { get; set; } = "http://localhost:5173/billing/cancel";

    [Required(ErrorMessage = "Stripe:PortalReturnUrl is not configured.")]
    [Url(ErrorMessage = "Stripe:PortalReturnUrl must be an absolute URL.")]
    public string PortalReturnUrl { get; set; } = "http://localhost:5173/account";

    [Required(ErrorMessage = "Stripe:ConnectRefreshUrl is not configured.")]
    [Url(ErrorMessage = "Stripe:ConnectRefreshUrl must be an absolute URL.")]
    public string ConnectRefreshUrl { get; set; } = "http://localhost:5173/influencers/onboarding/refresh";

    [Required(ErrorMessage = "Stripe:ConnectReturnUrl is not configured.")]
    [Url(ErrorMessage = "Stripe:ConnectReturnUrl must be an absolute URL.")]
    public string ConnectReturnUrl { get; set; } = "http://localhost:5173/influencers/onboarding/done";

    /// <summary>Country of the platform's Stripe account: decides which influencers' countries can be paid (cross-border rules).</summary>
    [Required(ErrorMessage = "Stripe:PlatformCountry is not configured.")]
    [RegularExpression("^[A-Z]{2}$", ErrorMessage = "Stripe:PlatformCountry must be an upper-case ISO 3166-1 alpha-2 code (the platform account's country).")]
    public string PlatformCountry { get; set; } = "US";

    /// <summary>Let Stripe Tax compute tax at checkout (needs Stripe Tax set up in the account).</summary>
    public bool AutomaticTax { get; set; }

    /// <summary>Plans by name (e.g. plus-monthly); each is one Stripe price with currency options.</summary>
    public Dictionary<string, PlanOptions> Plans { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Currency by ISO country; countries not listed pay in <see cref="DefaultCurrency"/>.</summary>
    public Dictionary<string, string> CountryCurrencies { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    [Required(ErrorMessage = "Stripe:DefaultCurrency is not configured.")]
    [RegularExpression("^[a-z]{3}$", ErrorMessage = "Stripe:DefaultCurrency must match {1}.")]
    public string DefaultCurrency { get; set; } = "usd";

    /// <summary>Share of the amount paid (net of tax and discounts) credited to the referring influencer.</summary>
    [Range(0.0, 1.0, ErrorMessage = "Stripe:CommissionRate must lie between {1} and {2}.")]
    public decimal CommissionRate { get; set; } = 0.20m;

    /// <summary>Commissions become payable after this (the refund window).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "365.00:00:00", ErrorMessage = "Stripe:HoldPeriod must lie between {1} and {2}.")]
    public TimeSpan HoldPeriod { get; set; } = TimeSpan.FromDays(30);

    /// <summary>Access kept after a failed payment while Stripe's Smart Retries try again.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "60.00:00:00", ErrorMessage = "Stripe:GracePeriod must lie between {1} and {2}.")]
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromDays(7);

    [Range(0.01, 1_000_000, ErrorMessage = "Stripe:PayoutMinimumUsd must lie between {1} and {2}.")]
    public decimal PayoutMinimumUsd { get; set; } = 50m;

    /// <summary>Day of month (UTC) of the automatic payout run; 0 switches the schedule off.</summary>
    [Range(0, 28, ErrorMessage = "Stripe:PayoutDayOfMonth must lie between {1} and {2}.")]
    public int PayoutDayOfMonth { get; set; } = 1;

    [Range(0, 23, ErrorMessage = "Stripe:PayoutHourUtc must lie between {1} and {2}.")]
    public int PayoutHourUtc { get; set; }

    /// <summary>Transfers made in parallel during a payout run.</summary>
    [Range(1, 32, ErrorMessage = "Stripe:PayoutConcurrency must lie between {1} and {2}.")]
    public int PayoutConcurrency { get; set; } = 4;


    /// <summary>What data annotations cannot say: keys' shape, each plan (by its configuration key) and currencies.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrWhiteSpace(SecretKey) && !SecretKey.StartsWith("sk_", StringComparison.Ordinal) && !SecretKey.StartsWith("rk_", StringComparison.Ordinal))
        {
            yield return new ValidationResult("Stripe:SecretKey must be a secret (sk_) or restricted (rk_) key.", [nameof(SecretKey)]);
        }

        if (!string.IsNullOrWhiteSpace(WebhookSecret) && !WebhookSecret.StartsWith("whsec_", StringComparison.Ordinal))
        {
            yield return new ValidationResult("Stripe:WebhookSecret must be an endpoint signing secret (whsec_).", [nameof(WebhookSecret)]);
        }

        // A dictionary's values are not reached by [ValidateEnumeratedItems]: each plan goes through its generated validator.
        var plans = new PlanOptionsValidator();
        foreach (var (planName, plan) in Plans)
        {
            if (plans.Validate($"{SectionName}:{nameof(Plans)}:{planName}", plan) is { Failed: true, Failures: { } failures })
            {
                foreach (var failure in failures)
                {
                    yield return new ValidationResult($"{SectionName}:{nameof(Plans)}:{planName}: {failure}", [nameof(Plans)]);
                }
            }
        }

        foreach (var (country, currency) in CountryCurrencies)
        {
            if (currency.Length != 3)
            {
                yield return new ValidationResult($"Stripe:CountryCurrencies:{country} must be a three-letter currency code.", [nameof(CountryCurrencies)]);
            }
        }
    }

    public bool IsConfigured => !string.IsNullOrWhiteSpace(SecretKey);

    public long PayoutMinimumCents => (long)Math.Round(PayoutMinimumUsd * 100m, MidpointRounding.AwayFromZero);

    public string CurrencyFor(string? country) =>
        country is not null && CountryCurrencies.TryGetValue(country, out var currency) ? currency.ToLowerInvariant() : DefaultCurrency;

    public (string Name, PlanOptions Plan)? PlanForPrice(string? priceId) =>
        Plans.Where(p => p.Value.PriceId == priceId).Select(p => ((string, PlanOptions)?)(p.Key, p.Value)).FirstOrDefault();
}
