using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Engagement.Experiments;

/// <summary><c>GET /ops/email/experiments</c> and <c>/ops/email/experiments/{id}</c> (ops role).</summary>
public static class ExperimentsApi
{
    public static RouteGroupBuilder MapExperimentsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/ops/email/experiments").RequireOps().WithTags("Ops");
        group.MapGet("/", ListAsync).WithSummary("Every configured experiment with its counts and decision");
        group.MapGet("/{id}", GetAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("One experiment: counts, rates, uplift over the control and the z-test's confidence per variant");
        return group;
    }

    private static async Task<Ok<List<ExperimentReport>>> ListAsync(ExperimentService experiments, NpgsqlDataSource dataSource, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var reports = new List<ExperimentReport>();
        foreach (var experiment in experiments.All)
        {
            reports.Add(await experiments.ReportAsync(connection, null, experiment, ct));
        }

        return TypedResults.Ok(reports);
    }

    private static async Task<Results<Ok<ExperimentReport>, ProblemHttpResult>> GetAsync(string id, ExperimentService experiments, NpgsqlDataSource dataSource, CancellationToken ct)
    {
        if (experiments.Find(id) is not { } experiment)
        {
            return TypedResults.Problem(statusCode: 404, title: "Unknown experiment", detail: "No experiment by that id is configured (Email:Experiments).");
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return TypedResults.Ok(await experiments.ReportAsync(connection, null, experiment, ct));
    }
}
