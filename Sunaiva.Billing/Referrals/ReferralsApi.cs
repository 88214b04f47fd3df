using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Sunaiva.ServiceDefaults.Auth;

namespace Sunaiva.Billing.Referrals;

public sealed record ReferralAttribution(string ReferralCode, string Source, DateTime AttributedAt);

public sealed record ReferralRequest(string? ReferralCode);

public static partial class ReferralsApi
{
    public static RouteGroupBuilder MapReferralsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/billing/referral").RequireAuthorization().WithTags("Referrals");
        group.MapGet("/", GetAsync);
        group.MapPost("/", PostAsync);
        return group;
    }

    private static async Task<Results<Ok<ReferralAttribution>, ProblemHttpResult>> GetAsync(HttpContext http, ReferralStore store, CancellationToken ct)
    {
        var attribution = await store.GetAsync(http.User.UserId(), ct);
        return attribution is null
            ? TypedResults.Problem(statusCode: 404, title: "No referral", detail: "This user was not referred by an influencer.")
            : TypedResults.Ok(attribution);
    }

    /// <summary>Attributes the caller to a referral code; the first attribution is kept, so retries are harmless.</summary>
    private static async Task<Results<Ok<ReferralAttribution>, Created<ReferralAttribution>, ProblemHttpResult>> PostAsync(ReferralRequest request, HttpContext http, ReferralStore store, CancellationToken ct)
    {
        if (!IsValidCode(request.ReferralCode))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid referral code", detail: "A referral code has 3 to 32 letters, digits, dashes or underscores.");
        }

        var (attribution, created) = await store.AttributeAsync(http.User.UserId(), request.ReferralCode!, "api", ct);
        return created ? TypedResults.Created("/billing/referral", attribution) : TypedResults.Ok(attribution);
    }

    public static bool IsValidCode(string? code) => code is not null && CodePattern().IsMatch(code);

    [GeneratedRegex("^[A-Za-z0-9_-]{3,32}$")]
    private static partial Regex CodePattern();
}
