using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.RateLimiting;
using Sunaiva.Testing;

namespace Sunaiva.ServiceDefaults.Tests.RateLimiting;

public sealed class RateLimitingTests
{
    [Fact]
    public async Task User_over_the_limit_gets_429_problem_with_retry_after_and_another_user_is_not_affected()
    {
        await using var app = await StartAsync(new() { ["RateLimiting:PermitsPerUser"] = "2", ["RateLimiting:Window"] = "01:00:00" });
        using var ada = Client(app, "ada");
        using var bob = Client(app, "bob");

        Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync("/me")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync("/me")).StatusCode);
        using var refused = await ada.GetAsync("/me");

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        var retryAfter = refused.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value, TimeSpan.FromSeconds(1), TimeSpan.FromHours(1));
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.Equal("Too many requests", problem.GetProperty("title").GetString());

        Assert.Equal(HttpStatusCode.OK, (await bob.GetAsync("/me")).StatusCode);
        Assert.Equal("bob", await bob.GetStringAsync("/me"));
    }

    [Fact]
    public async Task Anonymous_callers_are_limited_per_address_and_health_and_webhooks_are_exempt()
    {
        await using var app = await StartAsync(new() { ["RateLimiting:PermitsPerIp"] = "1", ["RateLimiting:Window"] = "01:00:00" });
        var server = app.GetTestServer();
        Task<HttpContext> From(string ip, string path) => server.SendAsync(c =>
        {
            c.Connection.RemoteIpAddress = IPAddress.Parse(ip);
            c.Request.Method = "GET";
            c.Request.Path = path;
        });

        Assert.Equal(200, (await From("10.0.0.1", "/")).Response.StatusCode);
        var refused = await From("10.0.0.1", "/");
        Assert.Equal(429, refused.Response.StatusCode);
        Assert.False(string.IsNullOrEmpty(refused.Response.Headers.RetryAfter));
        Assert.Equal(200, (await From("10.0.0.2", "/")).Response.StatusCode);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(200, (await From("10.0.0.1", "/health")).Response.StatusCode);
            Assert.Equal(200, (await From("10.0.0.1", "/webhooks/stripe")).Response.StatusCode);
        }
    }

    [Fact]
    public async Task Switched_off_the_limiter_lets_every_request_through()
    {
        await using var app = await StartAsync(new() { ["RateLimiting:Enabled"] = "false", ["RateLimiting:PermitsPerUser"] = "1" });
        using var ada = Client(app, "ada");

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync("/me")).StatusCode);
        }
    }

    [Fact]
    public async Task Invalid_limit_stops_the_service_at_start_and_names_the_key()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(new() { ["RateLimiting:PermitsPerUser"] = "0" }));

        Assert.Contains("RateLimiting:PermitsPerUser", error.Message, StringComparison.Ordinal);
    }

    private static HttpClient Client(WebApplication app, string userId)
    {
        var client = app.GetTestClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", DevTokens.For(userId));
        return client;
    }

    private static async Task<WebApplication> StartAsync(Dictionary<string, string?> settings)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Jwt:SigningKey"] = DevTokens.TestSigningKey,
            ["Jwt:Issuer"] = "sunaiva-dev",
            ["Jwt:Audience"] = "sunaiva",
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddProblemDetails();
        builder.AddSunaivaAuthentication();
        builder.AddSunaivaRateLimiting();
        var app = builder.Build();
        app.UseAuthentication();
        app.UseSunaivaRateLimiting();
        app.UseAuthorization();
        app.MapGet("/", () => "hello");
        app.MapGet("/me", (HttpContext http) => http.User.UserId()).RequireAuthorization();
        app.MapGet("/health", () => "Healthy");
        app.MapGet("/webhooks/stripe", () => "ok");
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return app;
    }
}
