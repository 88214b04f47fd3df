using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Engagement.Reports;

/// <summary><c>GET /ops/email/reports/{referralCode}?period=</c>: the figures a performance report would carry (ops role).</summary>
public static class InfluencerReportsApi
{
    public static RouteGroupBuilder MapInfluencerReportsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/ops/email/reports").RequireOps().WithTags("Ops");
        group.MapGet("/{referralCode}", GetAsync).ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound)
            .WithSummary("An influencer's performance figures for a month (period YYYY-MM, default the current month)");
        return group;
    }

    private static async Task<Results<Ok<InfluencerReport>, ProblemHttpResult>> GetAsync(string referralCode, string? period, NpgsqlDataSource dataSource, TimeProvider time, CancellationToken ct)
    {
        period ??= InfluencerLedgerHandler.Period(time.GetUtcNow());
        if (!InfluencerReport.IsPeriod(period))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid period", detail: "period is a month as YYYY-MM.");
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var known = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM influencers WHERE referral_code = @referralCode) OR EXISTS (SELECT 1 FROM referred_users WHERE referral_code = @referralCode)",
            new { referralCode }, cancellationToken: ct));
        if (!known)
        {
            return TypedResults.Problem(statusCode: 404, title: "Unknown referral code", detail: "No signup or payout has named this referral code.");
        }

        return TypedResults.Ok(await InfluencerReport.ReadAsync(connection, referralCode, period, ct));
    }
}
