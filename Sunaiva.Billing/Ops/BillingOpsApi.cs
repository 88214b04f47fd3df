using Microsoft.AspNetCore.Http.HttpResults;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Payouts;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

using Sunaiva.Billing.Webhooks;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Billing.Ops;

public sealed record ReplayRequest(IReadOnlyList<string>? EventIds);

public sealed record ReplayResult(int Replayed);

public sealed record DeadEvent(string Id, string Type, int Attempts, string? LastError, DateTime ReceivedAt);

public sealed record RecoverRequest(DateTimeOffset? From, DateTimeOffset? To);

public sealed record PayoutRunRequest(string? Period);

/// <summary>Ops: dead letters, replay, missed-event recovery and the payout run.</summary>
public static class BillingOpsApi
{
    public static RouteGroupBuilder MapBillingOpsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/ops/billing").RequireOps().WithTags("Billing ops");
        group.MapGet("/webhooks/dead", ListDeadAsync)
            .WithSummary("Dead-lettered Stripe webhook events (up to 500)");
        group.MapPost("/webhooks/replay", ReplayAsync)
            .WithSummary("Put dead-lettered Stripe events (all, or the ids given) back in the queue")
            .WithRequestExample(new ReplayRequest(["evt_1QxExample"]));
        group.MapPost("/webhooks/recover", RecoverAsync).RequireStripe().ProducesProblems(StripeProblems.Statuses)
            .WithSummary("Read a time range of Stripe's Events API into the inbox (events already stored are skipped)")
            .WithRequestExample(new RecoverRequest(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 3, 0, 0, 0, TimeSpan.Zero)));
        group.MapPost("/payouts/run", RunPayoutsAsync).RequireStripe().ProducesProblems(StatusCodes.Status422UnprocessableEntity)
            .WithSummary("Run the influencer payouts for a month (idempotent per influencer and period)")
            .WithRequestExample(new PayoutRunRequest("2026-10"));
        return group;
    }

    private static readonly string StripeKind = Sunaiva.Messaging.Webhooks.WebhookInbox.KindOf(StripeWebhookProvider.ProviderName);

    /// <summary>Dead-lettered Stripe events by their Stripe id (the work items of <c>webhook:stripe</c> joined to the inbox).</summary>
    private static async Task<Ok<List<DeadEvent>>> ListDeadAsync(Npgsql.NpgsqlDataSource data, CancellationToken ct)
    {
        await using var connection = await data.OpenConnectionAsync(ct);
        var dead = await Dapper.SqlMapper.QueryAsync<DeadEvent>(connection, new Dapper.CommandDefinition(
            "SELECT id, type, attempts, last_error AS lasterror, received_at AS receivedat FROM stripe_events WHERE status = 'dead' ORDER BY received_at LIMIT 500",
            cancellationToken: ct));
        return TypedResults.Ok(dead.ToList());
    }

    private static async Task<Results<Ok<ReplayResult>, ProblemHttpResult>> ReplayAsync(ReplayRequest? request, WorkQueue work, CancellationToken ct)
    {
        if (request?.EventIds is { } ids && (ids.Count > 1000 || ids.Any(id => !Sunaiva.Contracts.InputRules.IsOpaqueKey(id))))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid event ids", detail: "Send at most 1000 Stripe event ids (evt_...), each of printable ASCII.");
        }

        if (request?.EventIds is { Count: > 0 } eventIds)
        {
            var replayed = 0;
            foreach (var id in eventIds)
            {
                if (await work.FindAsync(Sunaiva.Messaging.Webhooks.WebhookInbox.KeyOf(StripeWebhookProvider.ProviderName, id), ct) is { Status: "dead" } item)
                {
                    replayed += await work.ReplayAsync(StripeKind, [item.Id], ct);
                }
            }

            return TypedResults.Ok(new ReplayResult(replayed));
        }

        return TypedResults.Ok(new ReplayResult(await work.ReplayAsync(StripeKind, null, ct)));
    }

    private static async Task<Results<Ok<RecoveryResult>, ProblemHttpResult>> RecoverAsync(RecoverRequest request, EventRecovery recovery, TimeProvider time, HttpContext http, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var to = request.To ?? now;
        var from = request.From ?? to.AddDays(-3);
        if (from >= to || from < now.AddDays(-30))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid range", detail: "from must be before to and within Stripe's 30 days of events.");
        }

        try
        {
            return TypedResults.Ok(await recovery.RecoverAsync(from, to, ct));
        }
        catch (StripeException ex)
        {
            return StripeProblems.From(ex, http, "event recovery");
        }
    }

    private static async Task<Results<Ok<PayoutRunResult>, ProblemHttpResult>> RunPayoutsAsync(PayoutRunRequest? request, PayoutRunner runner, TimeProvider time, CancellationToken ct)
    {
        if (request?.Period is { } period && !System.Text.RegularExpressions.Regex.IsMatch(period, "^[0-9]{4}-(0[1-9]|1[0-2])$"))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid period", detail: "period is yyyy-MM.");
        }

        if (request?.Period is { } requested && PayoutRunner.IsFuture(requested, time.GetUtcNow()))
        {
            return TypedResults.Problem(statusCode: 422, title: "Future period",
                detail: $"Period {requested} has not started yet; a run pays the current month at the latest.");
        }

        return TypedResults.Ok(await runner.RunAsync(request?.Period, ct));
    }
}
