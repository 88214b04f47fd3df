using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.Ops;

namespace Sunaiva.Messaging.Work;

public sealed record WorkReplayRequest(string? Kind, IReadOnlyList<long>? Ids);

public sealed record WorkReplayResult(int Replayed);

/// <summary>
/// Ops endpoints of the durable work: <c>GET /ops/work</c> (counts per kind), <c>GET /ops/work/dead</c> (dead letters,
/// <c>?kind=</c> a kind or a prefix such as <c>event:</c>), <c>POST /ops/work/dead/replay</c>.
/// </summary>
public static class WorkOpsApi
{
    private const int MaxList = 1000;

    public static RouteGroupBuilder MapWorkOpsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/ops/work").RequireOps().WithTags("Ops");
        group.MapGet("/", async (WorkQueue queue, CancellationToken ct) => TypedResults.Ok(await queue.StatsAsync(ct))).WithName("WorkStats");
        group.MapGet("/dead", ListDeadAsync).WithName("ListDeadWork");
        group.MapPost("/dead/replay", ReplayAsync).WithName("ReplayDeadWork");

        // The event dead letters, under the address the dashboard command has always used.
        var events = app.MapGroup("/ops/events/dead-letters").RequireOps().WithTags("Ops");
        events.MapGet("/", (WorkQueue queue, CancellationToken ct) => ListDeadAsync(queue, "event:", MaxList, ct)).WithName("ListDeadEvents");
        events.MapPost("/replay", async (WorkQueue queue, CancellationToken ct) => TypedResults.Ok(new WorkReplayResult(await queue.ReplayAsync("event:", null, ct))))
            .WithName("ReplayDeadEvents");
        return group;
    }

    private static async Task<Results<Ok<IReadOnlyList<WorkItemView>>, ProblemHttpResult>> ListDeadAsync(WorkQueue queue, string? kind, int? limit, CancellationToken ct)
    {
        if (limit is < 1 or > MaxList)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid limit", detail: $"limit is between 1 and {MaxList}.");
        }

        return TypedResults.Ok(await queue.ListDeadAsync(string.IsNullOrEmpty(kind) ? null : kind, limit ?? 100, ct));
    }

    private static async Task<Ok<WorkReplayResult>> ReplayAsync(WorkReplayRequest? request, WorkQueue queue, CancellationToken ct) =>
        TypedResults.Ok(new WorkReplayResult(await queue.ReplayAsync(string.IsNullOrEmpty(request?.Kind) ? null : request.Kind, request?.Ids, ct)));
}

internal sealed class WorkOpsEndpoints : IEndpointContributor
{
    public void Map(IEndpointRouteBuilder endpoints) => endpoints.MapWorkOpsApi();
}

/// <summary>Feeds <c>/ops/status</c>: the service's work items and its view of the event stream.</summary>
internal sealed class WorkStatusSource(WorkQueue queue, StackExchange.Redis.IConnectionMultiplexer redis, Sunaiva.ServiceIdentity identity) : IWorkStatusSource
{
    public async Task<WorkStatus?> ReadAsync(CancellationToken cancellationToken)
    {
        var stats = await queue.StatsAsync(cancellationToken);
        EventStreamStatus? stream = null;
        try
        {
            var db = redis.GetDatabase();
            var length = await db.StreamLengthAsync(Sunaiva.ResourceNames.EventStream);
            long pending = 0;
            try
            {
                pending = (await db.StreamPendingAsync(Sunaiva.ResourceNames.EventStream, identity.Name)).PendingMessageCount;
            }
            catch (StackExchange.Redis.RedisServerException)
            {
                // The group does not exist yet.
            }

            stream = new EventStreamStatus(length, pending);
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException || ex is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // Redis is down (or hangs: StackExchange.Redis cancels the commands pending on a connection it resets): dependencies
            // say so; the work in Postgres is still reported.
        }

        return new WorkStatus(
            stats.Sum(s => s.Pending),
            stats.Sum(s => s.Running),
            stats.Sum(s => s.Dead),
            stats.Count == 0 ? 0 : stats.Max(s => s.OldestDueSeconds),
            stats.Select(s => new WorkKindStatus(s.Kind, s.Pending, s.Running, s.Dead)).ToList(),
            stream);
    }
}
