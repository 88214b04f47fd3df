using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Referrals;
using Sunaiva.Billing.Subscriptions;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Billing.Checkout;

public sealed record CheckoutRequest(string? Plan, string? Country, string? Locale, string? ReferralCode);

public sealed record CheckoutResponse(string SessionId, string Url, string Currency, string Locale);

public sealed record PortalResponse(string Url);

public static class CheckoutApi
{
    /// <summary>
    /// The values of Checkout's <c>locale</c> enum (Stripe API reference, Checkout Session <c>locale</c>), in Stripe's casing.
    /// Stripe compares them case-sensitively, so a caller's <c>en-gb</c> or <c>PT-BR</c> is mapped to <c>en-GB</c> / <c>pt-BR</c>.
    /// </summary>
    public static readonly IReadOnlyList<string> StripeLocales =
    [
        "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it", "ja",
        "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
    ];

    private static readonly Dictionary<string, string> LocalesIgnoringCase = StripeLocales.ToDictionary(l => l, l => l, StringComparer.OrdinalIgnoreCase);

    private static readonly Dictionary<string, string> CountryLocales = new(StringComparer.OrdinalIgnoreCase)
    {
        ["US"] = "en", ["GB"] = "en-GB", ["IE"] = "en-GB", ["AU"] = "en-GB", ["IN"] = "en-GB", ["BR"] = "pt-BR", ["PT"] = "pt",
        ["FR"] = "fr", ["BE"] = "fr", ["DE"] = "de", ["AT"] = "de", ["NL"] = "nl", ["ES"] = "es", ["IT"] = "it", ["MX"] = "es-419",
        ["PL"] = "pl", ["SE"] = "sv", ["JP"] = "ja",
    };

    // Subscriptions that still bind the customer: a second checkout would double-charge; the portal changes or fixes them.
    private static readonly HashSet<string> LiveStatuses = ["active", "trialing", "past_due", "unpaid"];

    /// <summary>Stripe's exact spelling of a locale, matched case-insensitively; null when Stripe has no such locale.</summary>
    public static string? StripeLocale(string locale) => LocalesIgnoringCase.GetValueOrDefault(locale.Trim());

    public static RouteGroupBuilder MapCheckoutApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/billing").RequireAuthorization().WithTags("Billing");
        group.MapPost("/checkout", CheckoutAsync).RequireStripe().WithIdempotencyKey().ProducesProblems(StripeProblems.Statuses)
            .WithSummary("Start a Stripe Checkout session for a plan")
            .WithDescription("Currency and locale follow the country; open the returned url in the browser. With an Idempotency-Key, a retry returns the same session.")
            .WithRequestExample(new CheckoutRequest("plus-monthly", "GB", "en-GB", "DEMO"))
            .WithResponseExample(StatusCodes.Status200OK, new CheckoutResponse("cs_test_a1b2c3", "https://checkout.stripe.com/c/pay/cs_test_a1b2c3", "gbp", "en-GB"));
        group.MapPost("/portal", PortalAsync).RequireStripe().ProducesProblems(StripeProblems.Statuses)
            .WithSummary("Open the Stripe customer portal (change plan, card, cancel)");
        group.MapGet("/subscription", GetSubscriptionAsync).RequireStripe().ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("The caller's subscription, access and entitlements");
        return group;
    }

    /// <summary>
    /// Opens a Checkout Session. Everything that can be refused locally is checked before anything is written or any Stripe
    /// customer is created: plan, country, locale, referral code (owned by an influencer), a live subscription (409 with the
    /// portal link instead of a second subscription) and the currency an existing customer is fixed to.
    /// </summary>
    private static async Task<Results<Ok<CheckoutResponse>, ProblemHttpResult>> CheckoutAsync(
        CheckoutRequest request,
        HttpContext http,
        IOptions<StripeOptions> options,
        StripeGateway stripe,
        CustomerStore customers,
        ReferralStore referrals,
        SubscriptionStore subscriptions,
        CancellationToken ct)
    {
        var settings = options.Value;
        if (request.Plan is null || !settings.Plans.TryGetValue(request.Plan, out var plan))
        {
            return TypedResults.Problem(statusCode: 400, title: "Unknown plan", detail: $"Plans: {string.Join(", ", settings.Plans.Keys)}.");
        }

        var country = request.Country?.Trim().ToUpperInvariant();
        if (country is not null && (country.Length != 2 || !country.All(char.IsAsciiLetter)))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid country", detail: "country is an ISO 3166-1 alpha-2 code.");
        }

        if (request.ReferralCode is not null && !ReferralsApi.IsValidCode(request.ReferralCode))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid referral code", detail: "A referral code has 3 to 32 letters, digits, dashes or underscores.");
        }

        var idempotencyKey = http.Request.Headers["Idempotency-Key"].ToString();
        if (idempotencyKey.Length > 200)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid Idempotency-Key", detail: "An Idempotency-Key has at most 200 characters.");
        }

        string locale;
        if (request.Locale is not null)
        {
            if (StripeLocale(request.Locale) is not { } exact)
            {
                return TypedResults.Problem(statusCode: 422, title: "Unsupported locale",
                    detail: $"Stripe Checkout supports these locales (any letter case): {string.Join(", ", StripeLocales)}.");
            }

            locale = exact;
        }
        else
        {
            locale = country is not null && CountryLocales.TryGetValue(country, out var fromCountry) ? fromCountry : "auto";
        }

        var userId = http.User.UserId();
        using var _ = MeteringContext.ForUser(userId);
        var currency = settings.CurrencyFor(country);
        if (plan.Currencies.Count > 0 && !plan.Currencies.Contains(currency, StringComparer.OrdinalIgnoreCase))
        {
            currency = settings.DefaultCurrency;
        }

        try
        {
            if (request.ReferralCode is not null && !await referrals.IsOwnedAsync(request.ReferralCode, ct))
            {
                return ReferralsApi.UnknownCode();
            }

            var existing = await customers.GetAsync(userId, ct);
            if (await subscriptions.GetViewAsync(userId, ct) is { } mirrored && LiveStatuses.Contains(mirrored.Status))
            {
                return await AlreadySubscribedAsync(http, stripe, settings, existing?.StripeCustomerId ?? await subscriptions.CustomerIdAsync(mirrored.SubscriptionId, ct), ct);
            }

            if (existing is not null)
            {
                // The mirror may lag behind Stripe (a checkout paid a moment ago): Stripe's customer says for sure.
                var stripeCustomer = await customers.GetFromStripeAsync(existing.StripeCustomerId, ct);
                if (stripeCustomer.Subscriptions?.Data?.Any(s => LiveStatuses.Contains(s.Status)) == true)
                {
                    return await AlreadySubscribedAsync(http, stripe, settings, existing.StripeCustomerId, ct);
                }

                if (stripeCustomer.Currency is { Length: > 0 } fixedCurrency && !string.Equals(fixedCurrency, currency, StringComparison.OrdinalIgnoreCase))
                {
                    // Stripe refuses a second currency on one customer: keep the one it already has, if the plan is priced in it.
                    if (plan.Currencies.Count > 0 && !plan.Currencies.Contains(fixedCurrency, StringComparer.OrdinalIgnoreCase))
                    {
                        return TypedResults.Problem(statusCode: 409, title: "Currency not available for this customer",
                            detail: $"This billing account pays in {fixedCurrency.ToUpperInvariant()}, which plan {request.Plan} is not priced in; "
                                + $"it is priced in {string.Join(", ", plan.Currencies.Select(c => c.ToUpperInvariant()))}.",
                            extensions: new Dictionary<string, object?> { ["customerCurrency"] = fixedCurrency });
                    }

                    currency = fixedCurrency.ToLowerInvariant();
                }
            }

            if (request.ReferralCode is not null)
            {
                await referrals.AttributeAsync(userId, request.ReferralCode, "checkout", ct);
            }

            var attribution = await referrals.GetAsync(userId, ct);
            var customer = await customers.GetOrCreateAsync(userId, country, currency, attribution, ct);
            var metadata = new Dictionary<string, string> { ["user_id"] = userId, ["plan"] = request.Plan };
            if (attribution is not null)
            {
                metadata["referral_code"] = attribution.ReferralCode;
            }

            // No PaymentMethodTypes: dynamic payment methods let Stripe offer iDEAL, SEPA, Pix, UPI, wallets... per currency and country.
            var create = new global::Stripe.Checkout.SessionCreateOptions
            {
                Mode = "subscription",
                Customer = customer.StripeCustomerId,
                ClientReferenceId = userId,
                Currency = currency,
                Locale = locale,
                AllowPromotionCodes = true,
                LineItems = [new global::Stripe.Checkout.SessionLineItemOptions { Price = plan.PriceId, Quantity = 1 }],
                SuccessUrl = settings.SuccessUrl,
                CancelUrl = settings.CancelUrl,
                Metadata = metadata,
                SubscriptionData = new global::Stripe.Checkout.SessionSubscriptionDataOptions { Metadata = metadata },
            };
            if (settings.AutomaticTax)
            {
                create.AutomaticTax = new global::Stripe.Checkout.SessionAutomaticTaxOptions { Enabled = true };
                create.CustomerUpdate = new global::Stripe.Checkout.SessionCustomerUpdateOptions { Address = "auto", Name = "auto" };
                create.BillingAddressCollection = "auto";
            }

            var requestOptions = string.IsNullOrEmpty(idempotencyKey) ? null : StripeGateway.Idempotent($"checkout:{userId}:{idempotencyKey}");
            var session = await new global::Stripe.Checkout.SessionService(stripe.Client).CreateAsync(create, requestOptions, ct);
            return TypedResults.Ok(new CheckoutResponse(session.Id, session.Url, currency, locale));
        }
        catch (StripeException ex)
        {
            return StripeProblems.From(ex, http, "checkout");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return StripeProblems.Unavailable(http, ex, "checkout");
        }
    }

    /// <summary>409 with a fresh portal link: the user manages the subscription they have instead of starting a second one.</summary>
    private static async Task<ProblemHttpResult> AlreadySubscribedAsync(HttpContext http, StripeGateway stripe, StripeOptions settings, string? customerId, CancellationToken ct)
    {
        string? portalUrl = null;
        if (customerId is not null)
        {
            var session = await new global::Stripe.BillingPortal.SessionService(stripe.Client).CreateAsync(
                new global::Stripe.BillingPortal.SessionCreateOptions { Customer = customerId, ReturnUrl = settings.PortalReturnUrl },
                cancellationToken: ct);
            portalUrl = session.Url;
        }

        return TypedResults.Problem(statusCode: 409, title: "Already subscribed",
            detail: "This user already has a subscription; change or renew it in the billing portal (portalUrl, or POST /billing/portal).",
            extensions: new Dictionary<string, object?> { ["portalUrl"] = portalUrl });
    }

    private static async Task<Results<Ok<PortalResponse>, ProblemHttpResult>> PortalAsync(
        HttpContext http, IOptions<StripeOptions> options, StripeGateway stripe, CustomerStore customers, CancellationToken ct)
    {
        var userId = http.User.UserId();
        using var _ = MeteringContext.ForUser(userId);
        var customer = await customers.GetAsync(userId, ct);
        if (customer is null)
        {
            return TypedResults.Problem(statusCode: 404, title: "No billing account", detail: "This user has not checked out yet.");
        }

        try
        {
            var session = await new global::Stripe.BillingPortal.SessionService(stripe.Client).CreateAsync(
                new global::Stripe.BillingPortal.SessionCreateOptions { Customer = customer.StripeCustomerId, ReturnUrl = options.Value.PortalReturnUrl },
                cancellationToken: ct);
            return TypedResults.Ok(new PortalResponse(session.Url));
        }
        catch (StripeException ex)
        {
            return StripeProblems.From(ex, http, "portal");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return StripeProblems.Unavailable(http, ex, "portal");
        }
    }

    private static async Task<Results<Ok<SubscriptionView>, ProblemHttpResult>> GetSubscriptionAsync(
        HttpContext http, SubscriptionStore subscriptions, CancellationToken ct)
    {
        var view = await subscriptions.GetViewAsync(http.User.UserId(), ct);
        return view is null
            ? TypedResults.Problem(statusCode: 404, title: "No subscription", detail: "This user has no subscription.")
            : TypedResults.Ok(view);
    }
}
