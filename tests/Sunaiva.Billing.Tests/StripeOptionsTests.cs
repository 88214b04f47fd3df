using Sunaiva.Billing.Infrastructure;

namespace Sunaiva.Billing.Tests;

public sealed class StripeOptionsTests
{
    private static StripeOptions Valid() => new()
    {
        SecretKey = "sk_test_x",
        WebhookSecret = "whsec_x",
        Plans = new(StringComparer.OrdinalIgnoreCase) { ["plus-monthly"] = new PlanOptions { PriceId = "price_1", Interval = "month" } },
        CountryCurrencies = new(StringComparer.OrdinalIgnoreCase) { ["DE"] = "eur" },
    };

    [Fact]
    public void Valid_options_pass()
    {
        Assert.True(new StripeOptionsValidator().Validate(null, Valid()).Succeeded);
    }

    [Fact]
    public void Plan_without_a_price_or_with_an_unknown_interval_fails_naming_the_plans_key()
    {
        var options = Valid();
        options.Plans["pro-yearly"] = new PlanOptions { PriceId = "", Interval = "week" };

        var result = new StripeOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(result.Failures!, f => f.Contains("Stripe:Plans:pro-yearly", StringComparison.Ordinal) && f.Contains("PriceId is not configured", StringComparison.Ordinal));
        Assert.Contains(result.Failures!, f => f.Contains("Stripe:Plans:pro-yearly", StringComparison.Ordinal) && f.Contains("Interval must match", StringComparison.Ordinal));
        Assert.DoesNotContain(result.Failures!, f => f.Contains("plus-monthly", StringComparison.Ordinal));
    }

    [Fact]
    public void Top_level_values_and_key_shapes_fail_naming_their_keys()
    {
        var options = Valid();
        options.SecretKey = "pk_test_x";
        options.ApiBase = "not a url";
        options.PayoutConcurrency = 0;
        options.CountryCurrencies["GB"] = "pound";

        var failures = new StripeOptionsValidator().Validate(null, options).Failures!;

        Assert.Contains(failures, f => f.Contains("Stripe:SecretKey", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Stripe:ApiBase must be an absolute URL", StringComparison.Ordinal));
        // The generator's own [Range] ignores ErrorMessage (dotnet/runtime options generator): it names the property instead.
        Assert.Contains(failures, f => f.Contains("StripeOptions.PayoutConcurrency must be between 1 and 32", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Stripe:CountryCurrencies:GB", StringComparison.Ordinal));
    }
}
