using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Sunaiva.Voice.Tests;

/// <summary>How the fake answers the next requests.</summary>
public enum CloudBehaviour
{
    Speak,
    ServerError,
    Throttled,
    Unauthorized,
    Stall,
}

/// <summary>
/// OpenAI's <c>POST /v1/audio/speech</c> and ElevenLabs' <c>POST /v1/text-to-speech/{voice_id}/stream</c> on a loopback
/// Kestrel, shaped from their API references: raw PCM16 mono bodies (24 kHz for OpenAI's <c>pcm</c>, the
/// <c>output_format</c>'s rate for ElevenLabs) written in chunks as they are "generated"; errors as each documents them
/// (OpenAI <c>{"error":{"message","type","code"}}</c>, ElevenLabs <c>{"detail":{"status","message"}}</c>), a 429 with
/// Retry-After, or a stall that never sends headers.
/// </summary>
public sealed class FakeCloudTts : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stopping = new();

    private FakeCloudTts(WebApplication app) => _app = app;

    /// <summary>The base URL with /v1/, as Voice:Tts:OpenAI:BaseUrl and Voice:Tts:ElevenLabs:BaseUrl take it.</summary>
    public string BaseUrl { get; private set; } = string.Empty;

    public CloudBehaviour Behaviour { get; set; } = CloudBehaviour.Speak;

    /// <summary>Seconds of tone each answer carries.</summary>
    public double Seconds { get; set; } = 0.5;

    public ConcurrentQueue<(string Path, IHeaderDictionary Headers, JsonObject Body)> Requests { get; } = new();

    /// <summary>Requests stalled so far, and those still held open (the caller has not given up yet).</summary>
    public int Stalled => _stalled;

    public int PendingStalls => _pendingStalls;

    private int _stalled;
    private int _pendingStalls;

    public static async Task<FakeCloudTts> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeCloudTts(app);
        app.MapPost("/v1/audio/speech", (HttpContext http) => fake.HandleAsync(http, openAi: true));
        app.MapPost("/v1/text-to-speech/{voiceId}/stream", (HttpContext http) => fake.HandleAsync(http, openAi: false));
        await app.StartAsync();
        fake.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1/";
        return fake;
    }

    /// <summary>The PCM a successful answer carries at <paramref name="rate"/>: a 440 Hz tone.</summary>
    public byte[] Tone(int rate)
    {
        var samples = (int)(rate * Seconds);
        var pcm = new byte[samples * 2];
        for (var i = 0; i < samples; i++)
        {
            var s = (short)(8000 * Math.Sin(2 * Math.PI * 440 * i / rate));
            pcm[2 * i] = (byte)s;
            pcm[(2 * i) + 1] = (byte)(s >> 8);
        }

        return pcm;
    }

    private async Task HandleAsync(HttpContext http, bool openAi)
    {
        var body = (await JsonNode.ParseAsync(http.Request.Body))!.AsObject();
        Requests.Enqueue((http.Request.Path, new HeaderDictionary(http.Request.Headers.ToDictionary(h => h.Key, h => h.Value)), body));
        switch (Behaviour)
        {
            case CloudBehaviour.Stall:
                Interlocked.Increment(ref _stalled);
                Interlocked.Increment(ref _pendingStalls);
                using (var linked = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, _stopping.Token))
                {
                    await Task.Delay(Timeout.Infinite, linked.Token).ContinueWith(_ => { }, TaskScheduler.Default);
                }

                Interlocked.Decrement(ref _pendingStalls);

                return;
            case CloudBehaviour.ServerError:
                await ErrorAsync(http, openAi, 500, "server_error", "The server had an error while processing your request.", "system_busy");
                return;
            case CloudBehaviour.Unauthorized:
                await ErrorAsync(http, openAi, 401, "invalid_request_error", "Incorrect API key provided.", "invalid_api_key");
                return;
            case CloudBehaviour.Throttled:
                http.Response.Headers.RetryAfter = "20";
                await ErrorAsync(http, openAi, 429, "rate_limit_exceeded", "Rate limit reached for requests.", "too_many_concurrent_requests");
                return;
        }

        var rate = openAi ? 24000 : int.Parse(http.Request.Query["output_format"].ToString()["pcm_".Length..], System.Globalization.CultureInfo.InvariantCulture);
        var pcm = Tone(rate);
        http.Response.ContentType = "application/octet-stream";
        var half = pcm.Length / 4 * 2;
        await http.Response.Body.WriteAsync(pcm.AsMemory(0, half));
        await http.Response.Body.FlushAsync();
        await http.Response.Body.WriteAsync(pcm.AsMemory(half));
    }

    private static Task ErrorAsync(HttpContext http, bool openAi, int status, string type, string message, string elevenStatus)
    {
        http.Response.StatusCode = status;
        JsonObject error = openAi
            ? new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = null, ["code"] = type } }
            : new JsonObject { ["detail"] = new JsonObject { ["status"] = elevenStatus, ["message"] = message } };
        return http.Response.WriteAsJsonAsync(error);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}
