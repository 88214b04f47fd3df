using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Sunaiva.Integration;
using Sunaiva.Testing;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

[Collection(ServersCollection.Name)]
public sealed class OpsEndpointTests(LocalServers servers)
{
    [Fact]
    public async Task Chaos_switched_on_through_the_endpoint_makes_the_next_call_fall_back_and_switched_off_it_recovers()
    {
        await using var app = new EngagementFactory(servers);
        await app.StartAsync();
        using var ops = app.OpsClient();
        Assert.Equal("primary", (await app.EchoAsync("a")).Provider);

        var on = await ops.PutAsJsonAsync("/ops/chaos", new { provider = "primary", outage = true });
        Assert.Equal(HttpStatusCode.OK, on.StatusCode);
        var report = await on.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(report.GetProperty("providers").GetProperty("primary").GetProperty("outage").GetBoolean());

        var during = await app.EchoAsync("b");
        Assert.Equal(("backup", true), (during.Provider, during.Degraded));
        Assert.Equal(CallOutcome.Error, during.Attempts[0].Outcome);
        Assert.Equal("chaos fault", during.Attempts[0].Error);

        var current = await ops.GetFromJsonAsync<JsonElement>("/ops/chaos");
        Assert.True(current.GetProperty("providers").GetProperty("primary").GetProperty("outage").GetBoolean());

        var off = await ops.PutAsJsonAsync("/ops/chaos", new { provider = "primary", outage = false });
        Assert.Equal(HttpStatusCode.OK, off.StatusCode);
        var after = await app.EchoAsync("c");
        Assert.Equal(("primary", false), (after.Provider, after.Degraded));
    }

    [Fact]
    public async Task Chaos_primary_only_fails_the_first_adapter_of_every_chain_and_reset_restores_configuration()
    {
        await using var app = new EngagementFactory(servers);
        await app.StartAsync();
        using var ops = app.OpsClient();
        await app.EchoAsync("warm");

        var changed = await (await ops.PutAsJsonAsync("/ops/chaos", new { primaryOnly = true, outage = true })).EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>();
        // Engagement's own email-delivery chain (smtp-local first) is switched too: every chain's first adapter.
        Assert.Equal(["primary", "smtp-local"], changed.GetProperty("changed").EnumerateArray().Select(p => p.GetString()).Order(StringComparer.Ordinal));
        Assert.Equal("backup", (await app.EchoAsync("x")).Provider);

        (await ops.PutAsJsonAsync("/ops/chaos", new { reset = true })).EnsureSuccessStatusCode();
        Assert.Equal("primary", (await app.EchoAsync("y")).Provider);
    }

    [Fact]
    public async Task Ops_endpoints_refuse_anonymous_and_non_ops_callers_with_problem_details()
    {
        await using var app = new EngagementFactory(servers);
        await app.StartAsync();
        using var anonymous = app.ClientWith(null);
        using var user = app.ClientWith(DevTokens.For("user-9"));

        foreach (var path in new[] { "/ops/usage", "/ops/usage/summary?window=1h", "/ops/usage/users/user-9", "/ops/chaos" })
        {
            var a = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, a.StatusCode);
            Assert.Equal("application/problem+json", a.Content.Headers.ContentType?.MediaType);
            Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync(path)).StatusCode);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await user.PutAsJsonAsync("/ops/chaos", new { provider = "primary", outage = true })).StatusCode);
        Assert.Equal("primary", (await app.EchoAsync("still fine")).Provider);
    }

    [Fact]
    public async Task Usage_summary_and_user_cost_report_exactly_what_the_ledger_holds()
    {
        await using var app = new EngagementFactory(servers);
        await app.StartAsync();
        using var ops = app.OpsClient();

        await app.EchoAsync("hello", "ada");
        await app.EchoAsync("hello", "ada");
        await app.EchoAsync("hi", "bob");
        app.Primary.Fail();
        await app.EchoAsync("abcd", "bob");
        app.Primary.Succeed();
        await app.FlushLedgerAsync();

        await using var connection = new NpgsqlConnection(app.ConnectionString);
        var ledger = (await connection.QueryAsync<(string Provider, string Outcome, decimal Cost, string? UserId)>(
            "SELECT provider, outcome, cost_usd, user_id FROM usage_ledger")).ToList();
        Assert.Equal(5, ledger.Count);

        var summary = await ops.GetFromJsonAsync<JsonElement>("/ops/usage/summary?window=1h");
        var totals = summary.GetProperty("totals");
        Assert.Equal(ledger.Count, totals.GetProperty("calls").GetInt64());
        Assert.Equal(1, totals.GetProperty("errors").GetInt64());
        Assert.Equal(1, totals.GetProperty("fallbacks").GetInt64());
        Assert.Equal(2, totals.GetProperty("activeUsers").GetInt64());
        Assert.Equal(ledger.Sum(r => r.Cost), totals.GetProperty("costUsd").GetDecimal());
        Assert.Equal(ledger.Sum(r => r.Cost) / 2, totals.GetProperty("costPerActiveUser").GetDecimal());

        var rows = summary.GetProperty("rows").EnumerateArray().ToDictionary(r => r.GetProperty("provider").GetString()!);
        Assert.Equal(4, rows["primary"].GetProperty("calls").GetInt64());
        Assert.Equal(3, rows["primary"].GetProperty("ok").GetInt64());
        Assert.Equal(1, rows["backup"].GetProperty("fallbacks").GetInt64());
        Assert.Equal(0.012m, rows["primary"].GetProperty("costUsd").GetDecimal());
        Assert.Equal(0.0004m, rows["backup"].GetProperty("costUsd").GetDecimal());
        Assert.True(rows["primary"].GetProperty("p95Ms").GetDouble() >= rows["primary"].GetProperty("p50Ms").GetDouble());
        Assert.Equal(5, summary.GetProperty("series").EnumerateArray().Sum(b => b.GetProperty("calls").GetInt64()));
        Assert.Contains(summary.GetProperty("circuits").EnumerateArray(), c => c.GetProperty("provider").GetString() == "primary" && c.GetProperty("circuit").GetString() == "closed");

        var bob = await ops.GetFromJsonAsync<JsonElement>("/ops/usage/users/bob");
        Assert.Equal(ledger.Where(r => r.UserId == "bob").Sum(r => r.Cost), bob.GetProperty("costUsd").GetDecimal());
        Assert.Equal(3, bob.GetProperty("calls").GetInt64());

        var page = await ops.GetFromJsonAsync<JsonElement>("/ops/usage?provider=primary&userId=bob&pageSize=1");
        Assert.Equal(2, page.GetProperty("total").GetInt64());
        Assert.Single(page.GetProperty("items").EnumerateArray());
        Assert.Equal("error", (await ops.GetFromJsonAsync<JsonElement>("/ops/usage?provider=primary&userId=bob&pageSize=1"))
            .GetProperty("items")[0].GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task Dashboard_gathers_peer_services_through_service_discovery_and_sums_a_users_cost_across_them()
    {
        await using var peer = new EngagementFactory(servers, kestrel: true);
        await peer.StartAsync();
        await peer.EchoAsync("from the peer", "ada");
        await peer.FlushLedgerAsync();

        await using var app = new EngagementFactory(servers, settings: new Dictionary<string, string>
        {
            ["OpsDashboard:Peers"] = "voice,billing",
            ["Services:voice:http:0"] = peer.KestrelAddress!.ToString().TrimEnd('/'),
            ["Services:billing:http:0"] = "http://127.0.0.1:" + LocalServers.FreePort(),
        });
        await app.StartAsync();
        await app.EchoAsync("here", "ada");
        await app.FlushLedgerAsync();
        using var ops = app.OpsClient();

        var data = await ops.GetFromJsonAsync<JsonElement>("/ops/dashboard/data?window=1h");
        var services = data.GetProperty("services").EnumerateArray().ToDictionary(s => s.GetProperty("service").GetString()!);
        Assert.True(services["voice"].GetProperty("reachable").GetBoolean());
        Assert.Equal(1, services["voice"].GetProperty("summary").GetProperty("totals").GetProperty("calls").GetInt64());
        Assert.True(services["voice"].GetProperty("status").GetProperty("providers").GetArrayLength() > 0);
        Assert.False(services["billing"].GetProperty("reachable").GetBoolean());
        Assert.True(services["engagement"].GetProperty("reachable").GetBoolean());

        // Ada used two services: the overall cost per active user counts her once.
        var overall = data.GetProperty("overall");
        decimal Cost(string service) => services[service].GetProperty("summary").GetProperty("totals").GetProperty("costUsd").GetDecimal();
        Assert.Equal(1, overall.GetProperty("activeUsers").GetInt64());
        Assert.Equal(Cost("voice") + Cost("engagement"), overall.GetProperty("costUsd").GetDecimal());
        Assert.Equal(Cost("voice") + Cost("engagement"), overall.GetProperty("costPerActiveUser").GetDecimal());

        var ada = await ops.GetFromJsonAsync<JsonElement>("/ops/dashboard/users/ada");
        Assert.Equal(2, ada.GetProperty("calls").GetInt64());
        Assert.Equal(0.013m + 0.004m, ada.GetProperty("costUsd").GetDecimal());
    }

    [Fact]
    public async Task Dev_ops_token_minted_by_the_AppHost_opens_the_ops_endpoints_and_a_wrong_key_does_not()
    {
        await using var app = new EngagementFactory(servers);
        await app.StartAsync();
        using var good = app.ClientWith(Sunaiva.AppHost.DevOpsToken.Mint(DevTokens.TestSigningKey, "sunaiva-dev", "sunaiva", DateTimeOffset.UtcNow));
        using var bad = app.ClientWith(Sunaiva.AppHost.DevOpsToken.Mint("another-signing-key-0123456789-0123456789-abcdef", "sunaiva-dev", "sunaiva", DateTimeOffset.UtcNow));

        Assert.Equal(HttpStatusCode.OK, (await good.GetAsync("/ops/dashboard/data?window=24h")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await good.GetAsync("/ops/chaos")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await bad.GetAsync("/ops/chaos")).StatusCode);
    }

    [Fact]
    public async Task Unknown_summary_window_is_a_400_problem()
    {
        await using var app = new EngagementFactory(servers);
        await app.StartAsync();
        using var ops = app.OpsClient();

        var response = await ops.GetAsync("/ops/usage/summary?window=7y");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Ops_status_lists_each_adapter_with_its_circuit()
    {
        await using var app = new EngagementFactory(servers);
        await app.StartAsync();
        using var ops = app.OpsClient();
        await app.EchoAsync("x");

        var status = await ops.GetFromJsonAsync<JsonElement>("/ops/status");

        var providers = status.GetProperty("providers").EnumerateArray().ToList();
        Assert.Contains(providers, p => p.GetProperty("provider").GetString() == "primary" && p.GetProperty("state").GetString() == "closed");
        Assert.Contains(providers, p => p.GetProperty("provider").GetString() == "backup");
    }

    [Fact]
    public async Task A_chain_that_cannot_serve_becomes_a_503_problem_with_retry_after()
    {
        await using var app = new EngagementFactory(servers);
        await app.StartAsync();
        var handler = app.Services.GetServices<IExceptionHandler>().Single(h => h.GetType().Name == "ProviderChainExceptionHandler");
        var context = new DefaultHttpContext { RequestServices = app.Services };
        context.Response.Body = new MemoryStream();
        var error = new ProviderChainException("tts", false, [new ChainAttempt("elevenlabs", CallOutcome.Throttled, TimeSpan.Zero, null)], TimeSpan.FromSeconds(12), null);

        Assert.True(await handler.TryHandleAsync(context, error, CancellationToken.None));

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
        Assert.Equal("12", context.Response.Headers.RetryAfter.ToString());
        context.Response.Body.Position = 0;
        var problem = await JsonSerializer.DeserializeAsync<JsonElement>(context.Response.Body);
        Assert.Equal("tts", problem.GetProperty("capability").GetString());
        Assert.Equal(503, problem.GetProperty("status").GetInt32());
    }
}
