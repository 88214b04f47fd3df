using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Referrals;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Billing.Influencers;

public sealed record InfluencerRequest(string? ReferralCode, string? Country, string? Email);

public sealed record InfluencerOnboarding(string Id, string ReferralCode, string AccountId, bool PayoutsEnabled, string OnboardingUrl, DateTime OnboardingUrlExpiresAt);

public sealed record EarningsPayout(string Period, string Status, long AmountUsd, string? Reason, string? TransferId);

public sealed record Earnings(
    string InfluencerId,
    string ReferralCode,
    bool PayoutsEnabled,
    string? DisabledReason,
    long EarnedUsd,
    long ClawedBackUsd,
    long OnHoldUsd,
    long PaidUsd,
    long PayableUsd,
    IReadOnlyList<EarningsPayout> Payouts);

public static class InfluencersApi
{
    public static RouteGroupBuilder MapInfluencersApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/influencers").RequireAuthorization().WithTags("Influencers");
        group.MapPost("/", OnboardAsync).RequireStripe().ProducesProblems(StripeProblems.Statuses)
            .WithSummary("Become an influencer: a Stripe Connect Express account (once) and a fresh onboarding link")
            .WithDescription("Idempotent per user: a retry returns the same account with a new link.")
            .WithRequestExample(new InfluencerRequest("DEMO", "GB", "ada@example.com"));
        group.MapGet("/{id}/earnings", EarningsAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("An influencer's commissions, clawbacks, holds and payouts (own, or any for ops)");
        return group;
    }

    /// <summary>Creates (once per user) a Connect Express account and returns a fresh onboarding link.</summary>
    private static async Task<Results<Ok<InfluencerOnboarding>, ProblemHttpResult>> OnboardAsync(
        InfluencerRequest request, HttpContext http, InfluencerStore store, StripeGateway stripe, IOptions<StripeOptions> options, CancellationToken ct)
    {
        if (!ReferralsApi.IsValidCode(request.ReferralCode))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid referral code", detail: "A referral code has 3 to 32 letters, digits, dashes or underscores.");
        }

        var country = request.Country?.Trim().ToUpperInvariant();
        if (country is null || country.Length != 2 || !country.All(char.IsAsciiLetter))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid country", detail: "country is an ISO 3166-1 alpha-2 code.");
        }

        // Refused before anything is stored: an account Stripe could never pay from the platform's country helps no one.
        var platformCountry = options.Value.PlatformCountry;
        if (ConnectCountries.Plan(platformCountry, country) is { Allowed: false, Refusal: var refusal })
        {
            return CannotPay(country, platformCountry, refusal!);
        }

        var userId = http.User.UserId();
        using var _ = MeteringContext.ForUser(userId);
        var influencer = await store.RegisterAsync(userId, request.ReferralCode!, country, ct);
        if (influencer is null)
        {
            return TypedResults.Problem(statusCode: 409, title: "Referral code taken", detail: "This referral code belongs to another influencer, or you already have another code.");
        }

        var connect = ConnectCountries.Plan(platformCountry, influencer.Country);
        if (!connect.Allowed)
        {
            return CannotPay(influencer.Country, platformCountry, connect.Refusal!);
        }

        try
        {
            var accountId = influencer.StripeAccountId;
            if (accountId is null)
            {
                var account = await new AccountService(stripe.Client).CreateAsync(
                    new AccountCreateOptions
                    {
                        Type = "express",
                        Country = influencer.Country,
                        Email = request.Email,
                        // Cross-border accounts must be under the recipient service agreement, which allows the transfers capability only.
                        Capabilities = new AccountCapabilitiesOptions { Transfers = new AccountCapabilitiesTransfersOptions { Requested = true } },
                        TosAcceptance = connect.ServiceAgreement is { } agreement ? new AccountTosAcceptanceOptions { ServiceAgreement = agreement } : null,
                        Metadata = new Dictionary<string, string> { ["influencer_id"] = influencer.Id, ["user_id"] = userId, ["referral_code"] = influencer.ReferralCode },
                    },
                    StripeGateway.Idempotent($"influencer-account:{influencer.Id}"),
                    ct);
                accountId = account.Id;
                await store.SetAccountAsync(influencer.Id, accountId, ct);
            }

            var link = await new AccountLinkService(stripe.Client).CreateAsync(
                new AccountLinkCreateOptions
                {
                    Account = accountId,
                    Type = "account_onboarding",
                    RefreshUrl = options.Value.ConnectRefreshUrl,
                    ReturnUrl = options.Value.ConnectReturnUrl,
                },
                cancellationToken: ct);
            return TypedResults.Ok(new InfluencerOnboarding(influencer.Id, influencer.ReferralCode, accountId, influencer.PayoutsEnabled, link.Url, link.ExpiresAt));
        }
        catch (StripeException ex)
        {
            return StripeProblems.From(ex, http, "connect onboarding");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return StripeProblems.Unavailable(http, ex, "connect onboarding");
        }
    }

    private static ProblemHttpResult CannotPay(string country, string platformCountry, string reason) =>
        TypedResults.Problem(statusCode: 422, title: "Country cannot be paid", detail: reason,
            extensions: new Dictionary<string, object?> { ["country"] = country, ["payableCountries"] = ConnectCountries.PayableFrom(platformCountry) });

    /// <summary>The influencer's own earnings, or anyone's for ops.</summary>
    private static async Task<Results<Ok<Earnings>, ProblemHttpResult>> EarningsAsync(
        string id, HttpContext http, InfluencerStore store, NpgsqlDataSource dataSource, TimeProvider time, CancellationToken ct)
    {
        var influencer = await store.GetAsync(id, ct);
        if (influencer is null || (!http.User.IsOps() && influencer.UserId != http.User.UserId()))
        {
            // The same answer for "absent" and "not yours": ids are not enumerable.
            return TypedResults.Problem(statusCode: 404, title: "Influencer not found", detail: "No influencer with this id is visible to you.");
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var totals = await connection.QuerySingleAsync<(long Earned, long Clawed, long OnHold, long Available)>(new CommandDefinition(
            """
            SELECT COALESCE(SUM(amount_usd) FILTER (WHERE amount_usd > 0), 0)::bigint,
                   COALESCE(-SUM(amount_usd) FILTER (WHERE amount_usd < 0), 0)::bigint,
                   COALESCE(SUM(amount_usd) FILTER (WHERE available_at > @now), 0)::bigint,
                   COALESCE(SUM(amount_usd) FILTER (WHERE available_at <= @now), 0)::bigint
            FROM commission_entries WHERE referral_code = @code
            """,
            new { code = influencer.ReferralCode, now = time.GetUtcNow() }, cancellationToken: ct));
        var payouts = (await connection.QueryAsync<EarningsPayout>(new CommandDefinition(
            """
            SELECT period, status, amount_usd AS amountusd, reason, stripe_transfer_id AS transferid FROM payouts
            WHERE influencer_id = @id ORDER BY period DESC
            """,
            new { id }, cancellationToken: ct))).ToList();
        var paid = payouts.Where(p => p.Status is "sent" or "pending").Sum(p => p.AmountUsd);
        return TypedResults.Ok(new Earnings(influencer.Id, influencer.ReferralCode, influencer.PayoutsEnabled, influencer.DisabledReason,
            totals.Earned, totals.Clawed, totals.OnHold, paid, totals.Available - paid, payouts));
    }
}
