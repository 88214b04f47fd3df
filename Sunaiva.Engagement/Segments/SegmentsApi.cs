using System.Diagnostics;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Engagement.Segments;

/// <summary>One segment as ops see it: members, the audience a campaign would mail now, and how long that took to evaluate.</summary>
public sealed record SegmentReport(string Segment, long Members, long Audience, double EvaluatedInMs);

/// <summary><c>GET /ops/email/segments</c> and <c>/ops/email/segments/{segment}</c> (ops role).</summary>
public static class SegmentsApi
{
    public static RouteGroupBuilder MapSegmentsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/ops/email/segments").RequireOps().WithTags("Ops");
        group.MapGet("/", ListAsync).WithSummary("Every segment: members, mailable audience and evaluation time");
        group.MapGet("/{segment}", GetAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("One segment: members, mailable audience (not suppressed) and evaluation time");
        return group;
    }

    /// <summary>
    /// The segment's audience now: members with an address that is not suppressed for re-engagement (or for everything).
    /// Membership is kept as events arrive, so this is an index range read of the segment, never a scan of all users' activity.
    /// </summary>
    public static async Task<SegmentReport> EvaluateAsync(NpgsqlConnection connection, string segment, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var (members, audience) = await connection.QuerySingleAsync<(long, long)>(new CommandDefinition(
            """
            SELECT count(*), count(*) FILTER (WHERE s.address IS NULL)
            FROM segment_members m
            JOIN users u ON u.id = m.user_id
            LEFT JOIN (SELECT DISTINCT address FROM email_suppressions WHERE category IN ('*', 'reengagement')) s ON s.address = lower(u.email)
            WHERE m.segment = @segment
            """,
            new { segment }, cancellationToken: ct));
        return new SegmentReport(segment, members, audience, watch.Elapsed.TotalMilliseconds);
    }

    private static async Task<Ok<List<SegmentReport>>> ListAsync(NpgsqlDataSource dataSource, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var reports = new List<SegmentReport>();
        foreach (var segment in Segments.All)
        {
            reports.Add(await EvaluateAsync(connection, segment, ct));
        }

        return TypedResults.Ok(reports);
    }

    private static async Task<Results<Ok<SegmentReport>, ProblemHttpResult>> GetAsync(string segment, NpgsqlDataSource dataSource, CancellationToken ct)
    {
        if (!Segments.All.Contains(segment, StringComparer.Ordinal))
        {
            return TypedResults.Problem(statusCode: 404, title: "Unknown segment", detail: $"Segments: {string.Join(", ", Segments.All)}.");
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return TypedResults.Ok(await EvaluateAsync(connection, segment, ct));
    }
}
