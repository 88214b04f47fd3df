using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Sunaiva.ServiceDefaults;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Ops;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Engagement.Ops;

/// <summary>One service's part of the dashboard: its usage summary and status, or why they could not be read.</summary>
public sealed record ServiceUsage(string Service, bool Reachable, string? Error, JsonElement? Summary, JsonElement? Status);

/// <summary>What the dashboard page renders: every service's summary for one window.</summary>
public sealed record DashboardData(string Window, DateTimeOffset GeneratedAt, IReadOnlyList<ServiceUsage> Services, OverallUsage Overall);

/// <summary>All reachable services together: total cost over distinct users (a user active in two services counts once).</summary>
public sealed record OverallUsage(decimal CostUsd, long ActiveUsers, decimal CostPerActiveUser);

/// <summary>A user's cost across all services this month.</summary>
public sealed record UserCostAcrossServices(string UserId, decimal CostUsd, long Calls, IReadOnlyList<ServiceUsage> Services);

/// <summary>The cost &amp; latency dashboard: <c>/ops</c> (the page), <c>/ops/dashboard/data</c> and <c>/ops/dashboard/users/{id}</c> (ops role).</summary>
public static partial class OpsDashboardApi
{
    public const string PeerClient = "ops-peers";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IHostApplicationBuilder AddOpsDashboard(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<OpsDashboardOptions>().BindConfiguration(OpsDashboardOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddHttpClient(PeerClient);
        return builder;
    }

    /// <summary>The page may load its own script, style and data only, runs no inline script and is never framed.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>The page (<c>wwwroot/ops/index.html</c>), its script and style, and the data endpoints it reads.</summary>
    public static WebApplication MapOpsDashboard(this WebApplication app)
    {
        // wwwroot/ops/ops.js and ops.css, with the page's headers.
        app.UseStaticFiles(new StaticFileOptions { OnPrepareResponse = context => AddSecurityHeaders(context.Context.Response) });

        // The page itself holds no data; it reads the ops token from the URL fragment and calls the data endpoints with it.
        app.MapGet("/ops", Page)
            .AllowAnonymous()
            .ExcludeFromDescription();
        var group = app.MapGroup("/ops/dashboard").RequireOps();
        group.MapGet("/data", Data).WithName("OpsDashboardData").ProducesProblems(StatusCodes.Status400BadRequest)
            .WithSummary("Dashboard data: every service's usage summary and status for a window (1h, 24h, 30d)");
        group.MapGet("/users/{id}", UserAcrossServices).WithName("OpsUserCost")
            .WithSummary("One user's cost across all services this month");
        return app;
    }

    private static Results<FileStreamHttpResult, ProblemHttpResult> Page(HttpContext http, IWebHostEnvironment environment)
    {
        var page = environment.WebRootFileProvider.GetFileInfo("ops/index.html");
        if (!page.Exists)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Ops page not deployed", detail: "wwwroot/ops/index.html is missing from this build of Engagement.");
        }

        AddSecurityHeaders(http.Response);
        http.Response.Headers.CacheControl = "no-store";
        return TypedResults.Stream(page.CreateReadStream(), "text/html; charset=utf-8");
    }

    private static void AddSecurityHeaders(HttpResponse response)
    {
        response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
    }

    internal static async Task<Results<Ok<DashboardData>, ProblemHttpResult>> Data(
        HttpContext http, IServiceProvider services, IHttpClientFactory clients, IOptions<OpsDashboardOptions> options,
        ServiceIdentity identity, TimeProvider time, CancellationToken cancellationToken, string window = "1h")
    {
        if (!UsageStore.Windows.ContainsKey(window))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Unknown window", detail: "window is one of 1h, 24h, 30d.");
        }

        var self = SelfAsync(services, identity, s => s.SummarizeAsync(window, time.GetUtcNow(), cancellationToken), cancellationToken);
        var peers = options.Value.PeerNames.Select(name => PeerAsync(http, clients, options.Value, name, $"/ops/usage/summary?window={window}", withStatus: true, cancellationToken));
        var all = await Task.WhenAll(peers.Prepend(self));
        return TypedResults.Ok(new DashboardData(window, time.GetUtcNow(), all.OrderBy(s => s.Service, StringComparer.Ordinal).ToList(), Overall(all)));
    }

    internal static OverallUsage Overall(IEnumerable<ServiceUsage> services)
    {
        var totals = services.Where(s => s.Summary is { } summary && summary.TryGetProperty("totals", out _))
            .Select(s => s.Summary!.Value.GetProperty("totals"))
            .ToList();
        var cost = totals.Sum(t => t.GetProperty("costUsd").GetDecimal());
        var users = totals
            .SelectMany(t => t.TryGetProperty("activeUserKeys", out var keys) ? keys.EnumerateArray().Select(k => k.GetString()) : [])
            .Where(k => k is not null)
            .Distinct(StringComparer.Ordinal)
            .LongCount();
        return new OverallUsage(cost, users, users == 0 ? 0 : Math.Round(cost / users, 6));
    }

    internal static async Task<Ok<UserCostAcrossServices>> UserAcrossServices(
        string id, HttpContext http, IServiceProvider services, IHttpClientFactory clients, IOptions<OpsDashboardOptions> options,
        ServiceIdentity identity, TimeProvider time, CancellationToken cancellationToken)
    {
        var self = SelfAsync(services, identity, s => s.UserCostAsync(id, time.GetUtcNow(), cancellationToken), cancellationToken, withStatus: false);
        var peers = options.Value.PeerNames.Select(name => PeerAsync(http, clients, options.Value, name, $"/ops/usage/users/{Uri.EscapeDataString(id)}", withStatus: false, cancellationToken));
        var all = await Task.WhenAll(peers.Prepend(self));
        var reached = all.Where(s => s.Summary is not null).Select(s => s.Summary!.Value).ToList();
        return TypedResults.Ok(new UserCostAcrossServices(
            id,
            reached.Sum(s => s.GetProperty("costUsd").GetDecimal()),
            reached.Sum(s => s.GetProperty("calls").GetInt64()),
            all.OrderBy(s => s.Service, StringComparer.Ordinal).ToList()));
    }

    private static async Task<ServiceUsage> SelfAsync<T>(IServiceProvider services, ServiceIdentity identity, Func<UsageStore, Task<T>> read, CancellationToken cancellationToken, bool withStatus = true)
    {
        if (services.GetService<UsageStore>() is not { } store)
        {
            return new ServiceUsage(identity.Name, false, "no usage ledger", null, null);
        }

        var summary = JsonSerializer.SerializeToElement(await read(store), Json);
        JsonElement? status = withStatus
            ? JsonSerializer.SerializeToElement(await services.GetRequiredService<DependencyStatusReporter>().ReportAsync(cancellationToken), Json)
            : null;
        return new ServiceUsage(identity.Name, true, null, summary, status);
    }

    private static async Task<ServiceUsage> PeerAsync(HttpContext http, IHttpClientFactory clients, OpsDashboardOptions options, string service, string path, bool withStatus, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.PeerTimeout);
            var client = clients.CreateClient(PeerClient);
            client.BaseAddress = new Uri($"https+http://{service}");
            var summary = await GetJsonAsync(client, http, path, timeout.Token);
            JsonElement? status = withStatus ? await GetJsonAsync(client, http, "/ops/status", timeout.Token) : null;
            return new ServiceUsage(service, true, null, summary, status);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or JsonException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            return new ServiceUsage(service, false, ex is OperationCanceledException ? "timed out" : ex.GetType().Name, null, null);
        }
    }

    private static async Task<JsonElement> GetJsonAsync(HttpClient client, HttpContext http, string path, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        // The caller is ops: the same bearer token is accepted by every service (one signing key).
        if (AuthenticationHeaderValue.TryParse(http.Request.Headers.Authorization, out var auth))
        {
            request.Headers.Authorization = auth;
        }

        using var response = await client.SendAsync(request, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"HTTP {(int)response.StatusCode}", null, response.StatusCode);
        }

        return await response.Content.ReadFromJsonAsync<JsonElement>(Json, cancellationToken);
    }
}
