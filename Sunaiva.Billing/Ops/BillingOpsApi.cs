using Microsoft.AspNetCore.Http.HttpResults;
using Stripe;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Payouts;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

using Sunaiva.Billing.Webhooks;

namespace Sunaiva.Billing.Ops;

public sealed record ReplayRequest(IReadOnlyList<string>? EventIds);

public sealed record ReplayResult(int Replayed);

public sealed record RecoverRequest(DateTimeOffset? From, DateTimeOffset? To);

public sealed record PayoutRunRequest(string? Period);

/// <summary>Ops: dead letters, replay, missed-event recovery and the payout run.</summary>
public static class BillingOpsApi
{
    public static RouteGroupBuilder MapBillingOpsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/ops/billing").RequireOps().WithTags("Billing ops");
        group.MapGet("/webhooks/dead", async (WebhookInbox inbox, CancellationToken ct) => TypedResults.Ok(await inbox.ListDeadAsync(500, ct)))
            .WithSummary("Dead-lettered Stripe webhook events (up to 500)");
        group.MapPost("/webhooks/replay", ReplayAsync)
            .WithSummary("Put dead-lettered Stripe events (all, or the ids given) back in the queue")
            .WithRequestExample(new ReplayRequest(["evt_1QxExample"]));
        group.MapPost("/webhooks/recover", RecoverAsync).RequireStripe().ProducesProblems(StripeProblems.Statuses)
            .WithSummary("Read a time range of Stripe's Events API into the inbox (events already stored are skipped)")
            .WithRequestExample(new RecoverRequest(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 11, 3, 0, 0, 0, TimeSpan.Zero)));
        group.MapPost("/payouts/run", RunPayoutsAsync).RequireStripe()
            .WithSummary("Run the influencer payouts for a month (idempotent per influencer and period)")
            .WithRequestExample(new PayoutRunRequest("2026-10"));
        return group;
    }

    private static async Task<Results<Ok<ReplayResult>, ProblemHttpResult>> ReplayAsync(ReplayRequest? request, WebhookInbox inbox, CancellationToken ct)
    {
        if (request?.EventIds is { } ids && (ids.Count > 1000 || ids.Any(id => !Sunaiva.ServiceDefaults.Validation.InputRules.IsOpaqueKey(id))))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid event ids", detail: "Send at most 1000 Stripe event ids (evt_...), each of printable ASCII.");
        }

        return TypedResults.Ok(new ReplayResult(await inbox.ReplayAsync(request?.EventIds, ct)));
    }

    private static async Task<Results<Ok<RecoveryResult>, ProblemHttpResult>> RecoverAsync(RecoverRequest request, EventRecovery recovery, TimeProvider time, CancellationToken ct)
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
            return StripeProblems.From(ex);
        }
    }

    private static async Task<Results<Ok<PayoutRunResult>, ProblemHttpResult>> RunPayoutsAsync(PayoutRunRequest? request, PayoutRunner runner, CancellationToken ct)
    {
        if (request?.Period is { } period && !System.Text.RegularExpressions.Regex.IsMatch(period, "^[0-9]{4}-(0[1-9]|1[0-2])$"))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid period", detail: "period is yyyy-MM.");
        }

        return TypedResults.Ok(await runner.RunAsync(request?.Period, ct));
    }
}
