using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Sunaiva.Voice.Tests;

/// <summary>
/// OpenAI's <c>POST /v1/realtime/client_secrets</c> on a loopback Kestrel: records each request (headers and JSON body)
/// and answers as the API reference documents (<c>value</c> "ek_...", <c>expires_at</c> in Unix seconds, the effective
/// <c>session</c>), or fails on demand.
/// </summary>
public sealed class FakeOpenAIRealtime : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _sequence;

    private FakeOpenAIRealtime(WebApplication app, Func<DateTimeOffset> now)
    {
        _app = app;
        Now = now;
    }

    public Func<DateTimeOffset> Now { get; }

    /// <summary>The base URL with /v1/, as Voice:OpenAI:BaseUrl takes it.</summary>
    public string BaseUrl { get; private set; } = string.Empty;

    /// <summary>Status to answer with instead of a secret (e.g. 500); null answers normally.</summary>
    public int? FailWith { get; set; }

    public ConcurrentQueue<(string? Authorization, JsonObject Body)> Requests { get; } = new();

    public static async Task<FakeOpenAIRealtime> StartAsync(Func<DateTimeOffset> now)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeOpenAIRealtime(app, now);
        app.MapPost("/v1/realtime/client_secrets", (Delegate)fake.HandleAsync);
        await app.StartAsync();
        fake.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1/";
        return fake;
    }

    private async Task<IResult> HandleAsync(HttpContext http)
    {
        var body = (await JsonNode.ParseAsync(http.Request.Body))!.AsObject();
        Requests.Enqueue((http.Request.Headers.Authorization.ToString(), body));
        if (FailWith is { } status)
        {
            return Results.Json(new { error = new { message = "The server had an error while processing your request.", type = "server_error" } }, statusCode: status);
        }

        var session = body["session"]!.DeepClone().AsObject();
        session["id"] = $"sess_{Interlocked.Increment(ref _sequence):D4}";
        session["object"] = "realtime.session";
        var seconds = body["expires_after"]?["seconds"]?.GetValue<int>() ?? 600;
        return Results.Json(new JsonObject
        {
            ["value"] = $"ek_test{_sequence:D4}",
            ["expires_at"] = Now().AddSeconds(seconds).ToUnixTimeSeconds(),
            ["session"] = session,
        });
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
