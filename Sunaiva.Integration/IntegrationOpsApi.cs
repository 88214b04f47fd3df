using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Sunaiva.Integration;

/// <summary>A change of one provider's chaos (or, with no provider, of every chain's first adapter when <see cref="PrimaryOnly"/>).</summary>
public sealed class ChaosUpdate
{
    /// <summary>Provider name; "*" for all providers.</summary>
    public string? Provider { get; set; }

    /// <summary>With no provider: the first adapter of every chain (the cloud provider, usually).</summary>
    public bool PrimaryOnly { get; set; }

    /// <summary>Back to the configured settings for every provider.</summary>
    public bool Reset { get; set; }

    [Range(0.0, 1.0)]
    public double FaultRate { get; set; }

    [Range(0.0, 1.0)]
    public double LatencyRate { get; set; }

    [Range(0, 600_000)]
    public int LatencyMs { get; set; }

    public bool Outage { get; set; }
}

/// <summary>What <c>/ops/chaos</c> answers: chaos per provider, and which providers the last change touched.</summary>
public sealed record ChaosReport(string Service, IReadOnlyDictionary<string, ChaosSettings> Providers, IReadOnlyList<string>? Changed = null);

/// <summary>The kernel's ops endpoints: <c>/ops/usage</c>, <c>/ops/usage/summary</c>, <c>/ops/usage/users/{id}</c>, <c>/ops/chaos</c>.</summary>
public static class IntegrationOpsApi
{
    /// <summary>Maps the kernel's endpoints on <paramref name="ops"/>, the service's <c>/ops</c> group (which carries the ops authorization).</summary>
    public static RouteGroupBuilder MapIntegrationOpsApi(this RouteGroupBuilder ops)
    {
        // Summaries for the OpenAPI document; the kernel has no dependency on ServiceDefaults' OpenAPI helpers.
        ops.MapGet("/usage", ListUsage).WithName("ListUsage").ProducesProblem(StatusCodes.Status400BadRequest)
            .WithSummary("Usage ledger: metered provider calls, filtered and paged");
        ops.MapGet("/usage/summary", Summary).WithName("UsageSummary").ProducesProblem(StatusCodes.Status400BadRequest)
            .WithSummary("Cost, calls and latency per provider for a window (1h, 24h, 30d)");
        ops.MapGet("/usage/users/{id}", UserCost).WithName("UserCost")
            .WithSummary("One user's cost this month");
        ops.MapGet("/chaos", GetChaos).WithName("GetChaos")
            .WithSummary("Chaos (injected faults, latency, outages) per provider");
        ops.MapPut("/chaos", PutChaos).WithName("PutChaos").ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status403Forbidden)
            .WithSummary("Switch chaos on or off for a provider, all providers, or every chain's first adapter (Development, or when configured)");
        return ops;
    }

    internal static async Task<Results<Ok<UsagePage>, ProblemHttpResult>> ListUsage(
        IServiceProvider services, TimeProvider time, CancellationToken cancellationToken,
        DateTimeOffset? from = null, DateTimeOffset? to = null, string? provider = null, string? capability = null, string? userId = null, int page = 1, int pageSize = 100)
    {
        if (services.GetService<UsageStore>() is not { } store)
        {
            return NoLedger();
        }

        var end = to ?? time.GetUtcNow();
        var start = from ?? end.AddDays(-1);
        if (new[] { provider, capability, userId }.Any(f => f is not null && (f.Length > 200 || f.Any(c => char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format))))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid filter",
                detail: "provider, capability and userId have at most 200 characters and no control characters.");
        }

        if (start > end || page is < 1 or > 100_000 || pageSize is < 1 or > 1000)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid usage query",
                detail: "from must not be after to; page is between 1 and 100000; pageSize is between 1 and 1000.");
        }

        return TypedResults.Ok(await store.ListAsync(start.ToUniversalTime(), end.ToUniversalTime(), provider, capability, userId, page, pageSize, cancellationToken));
    }

    internal static async Task<Results<Ok<UsageSummary>, ProblemHttpResult>> Summary(IServiceProvider services, TimeProvider time, CancellationToken cancellationToken, string window = "24h")
    {
        if (services.GetService<UsageStore>() is not { } store)
        {
            return NoLedger();
        }

        if (!UsageStore.Windows.ContainsKey(window))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Unknown window", detail: "window is one of 1h, 24h, 30d.");
        }

        return TypedResults.Ok(await store.SummarizeAsync(window, time.GetUtcNow(), cancellationToken));
    }

    internal static async Task<Results<Ok<UserCost>, ProblemHttpResult>> UserCost(string id, IServiceProvider services, TimeProvider time, CancellationToken cancellationToken)
    {
        if (services.GetService<UsageStore>() is not { } store)
        {
            return NoLedger();
        }

        return TypedResults.Ok(await store.UserCostAsync(id, time.GetUtcNow(), cancellationToken));
    }

    internal static Ok<ChaosReport> GetChaos(ChaosControl chaos, ServiceIdentity identity) => TypedResults.Ok(new ChaosReport(identity.Name, chaos.Current));

    internal static Results<Ok<ChaosReport>, ProblemHttpResult> PutChaos(
        ChaosUpdate update, ChaosControl chaos, IntegrationRuntime runtime, ServiceIdentity identity, IHostEnvironment environment, IOptions<IntegrationOptions> options)
    {
        if (!environment.IsDevelopment() && !options.Value.Chaos.AllowInProduction)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Chaos switches are off",
                detail: $"Run-time chaos is a Development tool; in {environment.EnvironmentName} set Integration:Chaos:AllowInProduction to true to switch it on.",
                type: "https://sunaiva.dev/problems/chaos-disabled");
        }

        var errors = new List<ValidationResult>();
        if (!Validator.TryValidateObject(update, new ValidationContext(update), errors, validateAllProperties: true))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid chaos settings", detail: string.Join(" ", errors.Select(e => e.ErrorMessage)));
        }

        if (update.Reset)
        {
            chaos.Reset();
            var all = chaos.Current;
            return TypedResults.Ok(new ChaosReport(identity.Name, all, all.Keys.ToList()));
        }

        var settings = new ChaosSettings
        {
            FaultRate = update.FaultRate,
            LatencyRate = update.LatencyRate,
            Latency = TimeSpan.FromMilliseconds(update.LatencyMs),
            Outage = update.Outage,
        };
        IEnumerable<string> targets = update.Provider switch
        {
            "*" => chaos.Current.Keys.Concat(runtime.Snapshot().Select(h => h.Provider)).Distinct(StringComparer.OrdinalIgnoreCase).ToList(),
            { Length: > 0 } name => [name],
            _ when update.PrimaryOnly => runtime.PrimaryProviders(),
            _ => [],
        };
        if (update.Provider is not { Length: > 0 } && !update.PrimaryOnly)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "No provider", detail: "Name a provider, \"*\" for all, or set primaryOnly.");
        }

        // A typo would otherwise switch chaos on for a provider nothing calls, and look like it worked.
        if (update.Provider is { Length: > 0 } named && named != "*"
            && !chaos.Current.Keys.Concat(runtime.Snapshot().Select(h => h.Provider)).Contains(named, StringComparer.OrdinalIgnoreCase))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Unknown provider",
                detail: "No adapter or configured provider has that name; GET /ops/chaos lists them.");
        }

        // A service with no chains yet has no primaries: nothing changes, and the answer says so.
        var list = targets.ToList();
        foreach (var provider in list)
        {
            chaos.Set(provider, settings);
        }

        return TypedResults.Ok(new ChaosReport(identity.Name, chaos.Current, list));
    }

    private static ProblemHttpResult NoLedger() => TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "No usage ledger",
        detail: "This service has no database, so it keeps no usage ledger; see its metrics instead.");
}
