using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sunaiva.Testing;

namespace Sunaiva.Engagement.Tests;

[Collection(ServersCollection.Name)]
public sealed class OpsDashboardDataTests(LocalServers servers) : IAsyncLifetime
{
    private readonly EngagementApp _app = new(servers);

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Dashboard_data_refuses_anonymous_callers_and_users_without_the_ops_role()
    {
        using var anonymous = _app.CreateClient();
        using var user = _app.ClientFor("ada");

        var byAnonymous = await anonymous.GetAsync("/ops/dashboard/data?window=1h");
        var byUser = await user.GetAsync("/ops/dashboard/data?window=1h");

        Assert.Equal(HttpStatusCode.Unauthorized, byAnonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, byUser.StatusCode);
        Assert.Equal("application/problem+json", byUser.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Dashboard_data_of_engagement_alone_lists_only_itself_as_reachable_with_an_empty_ledger()
    {
        using var ops = _app.ClientFor("ops-1", ops: true);

        var data = await ops.GetFromJsonAsync<JsonElement>("/ops/dashboard/data?window=24h");

        Assert.Equal("24h", data.GetProperty("window").GetString());
        var service = Assert.Single(data.GetProperty("services").EnumerateArray());
        Assert.Equal("engagement", service.GetProperty("service").GetString());
        Assert.True(service.GetProperty("reachable").GetBoolean());
        Assert.Equal(0m, data.GetProperty("overall").GetProperty("costUsd").GetDecimal());
        Assert.Equal(0, data.GetProperty("overall").GetProperty("activeUsers").GetInt64());
    }

    [Fact]
    public async Task Unknown_dashboard_window_is_a_400_problem()
    {
        using var ops = _app.ClientFor("ops-1", ops: true);

        var response = await ops.GetAsync("/ops/dashboard/data?window=7y");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Unknown window", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString());
    }
}
