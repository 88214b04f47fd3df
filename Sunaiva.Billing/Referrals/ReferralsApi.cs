using Microsoft.AspNetCore.Http.HttpResults;
using Sunaiva.Billing.Checkout;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Billing.Referrals;

public sealed record ReferralAttribution(string ReferralCode, string Source, DateTime AttributedAt);

public sealed record ReferralRequest(string? ReferralCode);

public static partial class ReferralsApi
{
    public static RouteGroupBuilder MapReferralsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/billing/referral").RequireAuthorization().WithTags("Referrals");
        group.MapGet("/", GetAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("The influencer referral the caller is attributed to");
        group.MapPost("/", PostAsync).ProducesProblems(StatusCodes.Status422UnprocessableEntity)
            .WithSummary("Attribute the caller to a referral code (the first attribution is kept)")
            .WithDescription("Naturally idempotent: 201 the first time, 200 with the kept attribution afterwards.")
            .WithRequestExample(new ReferralRequest("DEMO"));
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
    private static async Task<Results<Ok<ReferralAttribution>, Created<ReferralAttribution>, ProblemHttpResult>> PostAsync(
        ReferralRequest request, HttpContext http, ReferralStore store, CustomerStore customers, ILoggerFactory loggers, CancellationToken ct)
    {
        if (!IsValidCode(request.ReferralCode))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid referral code", detail: "A referral code has 3 to 32 letters, digits, dashes or underscores.");
        }

        var (attribution, created, owned) = await store.AttributeAsync(http.User.UserId(), request.ReferralCode!, "api", ct);
        if (!owned)
        {
            return UnknownCode();
        }

        if (created)
        {
            try
            {
                // The Stripe customer's metadata carries the attribution too; if Stripe is down, the next checkout copies it.
                await customers.SyncReferralAsync(http.User.UserId(), attribution!, ct);
            }
            catch (Exception ex) when (ex is global::Stripe.StripeException or HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                LogSyncFailed(loggers.CreateLogger("Sunaiva.Billing.Referrals"), ex);
            }
        }

        return created ? TypedResults.Created("/billing/referral", attribution!) : TypedResults.Ok(attribution!);
    }

    /// <summary>A well-formed code that no influencer owns.</summary>
    public static ProblemHttpResult UnknownCode() => TypedResults.Problem(statusCode: 422, title: "Unknown referral code",
        detail: "No influencer owns this referral code; check the spelling or leave it out.");

    public static bool IsValidCode(string? code) => Sunaiva.Contracts.InputRules.IsReferralCode(code);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Referral not copied to the Stripe customer yet; the next checkout retries")]
    private static partial void LogSyncFailed(ILogger logger, Exception ex);
}
