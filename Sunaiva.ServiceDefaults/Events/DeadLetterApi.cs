using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using StackExchange.Redis;
using Sunaiva.ServiceDefaults.Auth;

namespace Sunaiva.ServiceDefaults.Events;

public sealed record DeadLetter(string StreamId, string EventId, string Type, string Source, string Reason, string DeadAt);

public sealed record DeadLetterReplay(int Replayed, IReadOnlyList<string> EventIds);

/// <summary>
/// <c>GET /ops/events/dead-letters</c> lists this service's dead-lettered events; <c>POST .../replay</c> puts them back
/// on the stream with their own ids. Other services see the copy too and skip it (they handled the id already).
/// </summary>
public static class DeadLetterApi
{
    private const int Scan = 10_000;

    public static RouteGroupBuilder MapDeadLetterApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/ops/events/dead-letters").RequireOps().WithTags("Ops");
        group.MapGet("/", ListAsync);
        group.MapPost("/replay", ReplayAllAsync);
        return group;
    }

    private static async Task<Ok<IReadOnlyList<DeadLetter>>> ListAsync(IConnectionMultiplexer redis, ServiceIdentity identity) =>
        TypedResults.Ok<IReadOnlyList<DeadLetter>>((await MineAsync(redis.GetDatabase(), identity)).Select(e => ToDeadLetter(e)).ToList());

    private static async Task<Ok<DeadLetterReplay>> ReplayAllAsync(IConnectionMultiplexer redis, ServiceIdentity identity) =>
        TypedResults.Ok(await ReplayAsync(redis.GetDatabase(), identity));

    internal static async Task<DeadLetterReplay> ReplayAsync(IDatabase db, ServiceIdentity identity)
    {
        // One replay per service at a time, so two clicks do not re-add an entry twice.
        var lockKey = $"{ResourceNames.DeadLetterStream}.replay.{identity.Name}";
        var token = Guid.NewGuid().ToString("N");
        if (!await db.LockTakeAsync(lockKey, token, TimeSpan.FromMinutes(5)))
        {
            return new DeadLetterReplay(0, []);
        }

        try
        {
            return await ReplayLockedAsync(db, identity);
        }
        finally
        {
            await db.LockReleaseAsync(lockKey, token);
        }
    }

    private static async Task<DeadLetterReplay> ReplayLockedAsync(IDatabase db, ServiceIdentity identity)
    {
        var replayed = new List<string>();
        foreach (var entry in await MineAsync(db, identity))
        {
            var original = entry.Values
                .Where(v => v.Name == "id" || v.Name == "type" || v.Name == "source" || v.Name == "occurred_at" || v.Name == "data")
                .ToArray();
            // Deleted first: only the caller that removed the entry puts it back.
            if (await db.StreamDeleteAsync(ResourceNames.DeadLetterStream, [entry.Id]) == 0)
            {
                continue;
            }

            await db.StreamAddAsync(ResourceNames.EventStream, original);
            await db.HashDecrementAsync(EventConsumer.DeadLetterCountKey, identity.Name);
            replayed.Add(entry["id"].ToString());
        }

        return new DeadLetterReplay(replayed.Count, replayed);
    }

    private static async Task<IReadOnlyList<StreamEntry>> MineAsync(IDatabase db, ServiceIdentity identity) =>
        (await db.StreamRangeAsync(ResourceNames.DeadLetterStream, "-", "+", Scan))
            .Where(e => e["consumer_group"] == identity.Name)
            .ToList();

    private static DeadLetter ToDeadLetter(StreamEntry e) =>
        new(e.Id.ToString(), e["id"].ToString(), e["type"].ToString(), e["source"].ToString(), e["reason"].ToString(), e["dead_at"].ToString());
}
