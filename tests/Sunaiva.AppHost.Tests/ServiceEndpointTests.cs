using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Sunaiva.AppHost.Tests;

[Collection(SunaivaAppCollection.Name)]
public sealed class ServiceEndpointTests(SunaivaAppFixture fixture)
{
    public static TheoryData<string> Services => new(SunaivaAppFixture.Services);

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Health_answers_200(string service)
    {
        using var client = fixture.Client(service);
        var response = await client.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Root_names_the_service_and_its_version(string service)
    {
        using var client = fixture.Client(service);
        var info = await client.GetFromJsonAsync<JsonElement>("/");
        Assert.Equal(service, info.GetProperty("service").GetString());
        Assert.False(string.IsNullOrEmpty(info.GetProperty("version").GetString()));
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Unauthenticated_call_gets_401_problem_details(string service)
    {
        using var client = fixture.Client(service);
        var response = await client.GetAsync("/ops/status");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(401, problem.GetProperty("status").GetInt32());
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Token_signed_with_another_key_is_rejected(string service)
    {
        using var client = fixture.Client(service);
        client.DefaultRequestHeaders.Authorization = new("Bearer", Sunaiva.Testing.DevTokens.For("mallory", ops: true, signingKey: "another-key-that-is-long-enough-0123456789abcdef"));
        var response = await client.GetAsync("/ops/status");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task User_without_ops_role_gets_403_problem_details_on_ops_status(string service)
    {
        using var client = fixture.Client(service, "plain-user");
        var response = await client.GetAsync("/ops/status");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Ops_status_reports_healthy_database_and_redis(string service)
    {
        using var client = fixture.Client(service, "ops-person", ops: true);
        var status = await client.GetFromJsonAsync<JsonElement>("/ops/status");
        Assert.Equal(service, status.GetProperty("service").GetString());
        var dependencies = status.GetProperty("dependencies").EnumerateArray()
            .ToDictionary(d => d.GetProperty("name").GetString()!, d => d.GetProperty("state").GetString());
        Assert.Equal("healthy", dependencies["PostgreSql"]);
        Assert.Equal("healthy", dependencies["StackExchange.Redis"]);
        Assert.True(status.GetProperty("work").GetProperty("events").GetProperty("streamLength").GetInt64() >= 0);
        Assert.Equal(0, status.GetProperty("work").GetProperty("dead").GetInt64());
    }

    [Theory]
    [InlineData(ResourceNames.Voice, "PUT", "/voice/preferences", "{\"voiceId\": ")]
    [InlineData(ResourceNames.Voice, "PUT", "/voice/preferences", "{\"voiceId\": 5}")]
    [InlineData(ResourceNames.Billing, "POST", "/billing/referral", "[]")]
    [InlineData(ResourceNames.Billing, "POST", "/billing/checkout", "{\"plan\": ")]
    [InlineData(ResourceNames.Engagement, "POST", "/ops/email/test", "not json")]
    public async Task Malformed_json_body_gets_400_problem_details_not_a_server_error(string service, string method, string path, string body)
    {
        using var client = fixture.Client(service, "ops-person", ops: true);
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Invalid request body", problem.GetProperty("title").GetString());
    }
}
