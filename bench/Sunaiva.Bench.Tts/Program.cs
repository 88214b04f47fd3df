using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sunaiva;
using Sunaiva.Testing;
using Sunaiva.Voice.Tts;

// TTS bench: POST /tts time to first audio byte through the tts chain with a cloud voice configured, against a local
// stand-in of OpenAI's audio/speech (answers at once: the figures are Voice's own overhead, not OpenAI's latency).
// Baseline: the same request sent straight to the stand-in (bare cloud call), side by side.
//   miss (cloud)          : cache lookup + chain + resampling 24 -> 16 kHz, first chunk
//   hit (HybridCache)     : small clip from memory/Redis
//   hit (object storage)  : large clip streamed back from s3rver (tts/ objects)
//   fallback on 500       : the cloud answers 500, espeak-ng speaks in the same call
//   fallback on a stall   : the cloud never answers; cut at the first-chunk deadline (Voice: 2 s)
// Run: dotnet run -c Release --project bench/Sunaiva.Bench.Tts [-- --texts 20]
var texts = Arg("--texts", 20);
await using var servers = new LocalServersHandle();
await servers.Servers.InitializeAsync();
await using var cloud = await FakeSpeech.StartAsync();
await using var app = new BenchTtsApp(servers.Servers, new Dictionary<string, string?>
{
    ["Voice:Tts:WarmAtStart"] = "false",
    ["Logging:LogLevel:Default"] = "Warning",
    ["Voice:Tts:OpenAI:ApiKey"] = "sk-bench",
    ["Voice:Tts:OpenAI:BaseUrl"] = cloud.BaseUrl,
    ["Voice:Tts:StorageThresholdBytes"] = $"{64 * 1024}",
    ["ConnectionStrings:storage"] = servers.Servers.StorageConnectionString,
});
using var http = app.ClientFor("bench-user");
using var bare = new HttpClient();

var run = Guid.NewGuid().ToString("N")[..6];
string Short(int i) => $"Short reply {run} number {i}.";                                          // ~1.7 s of audio: HybridCache
string Long(int i) => $"A longer answer {run} number {i}, which keeps talking for a good while so that its clip is larger than the small tier."; // ~9 s: object storage

await BenchSupport.TtsFirstByteAsync(http, "en-US-female-1", $"warm {run}", "miss");
var bareCloud = new List<double>();
var miss = new List<double>();
var hit = new List<double>();
var storageMiss = new List<double>();
var storageHit = new List<double>();
for (var i = 0; i < texts; i++)
{
    bareCloud.Add(await BareCloudFirstByteAsync(Short(i)));
    miss.Add(await BenchSupport.TtsFirstByteAsync(http, "en-US-female-1", Short(i), "miss"));
    hit.Add(await BenchSupport.TtsFirstByteAsync(http, "en-US-female-1", Short(i), "hit"));
    storageMiss.Add(await BenchSupport.TtsFirstByteAsync(http, "en-US-female-1", Long(i), "miss"));
}

// The large clips are written to storage in the background after their last chunk: let the writes land.
await Task.Delay(1000);
for (var i = 0; i < texts; i++)
{
    storageHit.Add(await BenchSupport.TtsFirstByteAsync(http, "en-US-female-1", Long(i), "hit"));
}

var failed = new List<double>();
for (var i = 0; i < Math.Min(texts, 4); i++)
{
    failed.Add(await BenchSupport.TtsFirstByteAsync(http, "en-US-female-1", $"FAIL {run} {i}", "miss"));
}

var stalled = new List<double>();
for (var i = 0; i < 2; i++)
{
    stalled.Add(await BenchSupport.TtsFirstByteAsync(http, "en-US-female-1", $"STALL {run} {i}", "miss"));
}

var baseline = P(bareCloud, 50);
Console.WriteLine($"POST /tts, time to first audio byte ({texts} texts; a cloud voice configured, local stand-in answering at once):");
Console.WriteLine($"  bare cloud call (baseline)  p50 {baseline,7:F1} ms  p95 {P(bareCloud, 95),7:F1} ms");
Line("miss, cloud voice", miss);
Line("hit, HybridCache", hit);
Line("miss, large clip (cloud)", storageMiss);
Line("hit, object storage", storageHit);
Line("fallback on 500 (espeak)", failed);
Line("fallback on a stall", stalled);

void Line(string name, List<double> values) =>
    Console.WriteLine($"  {name,-27} p50 {P(values, 50),7:F1} ms  p95 {P(values, 95),7:F1} ms  (x{P(values, 50) / baseline:F2} the bare call, n={values.Count})");

async Task<double> BareCloudFirstByteAsync(string text)
{
    var watch = Stopwatch.StartNew();
    using var request = new HttpRequestMessage(HttpMethod.Post, cloud.BaseUrl + "audio/speech")
    {
        Content = JsonContent.Create(new { model = "gpt-4o-mini-tts", input = text, voice = "coral", response_format = "pcm" }),
    };
    using var response = await bare.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    await using var body = await response.Content.ReadAsStreamAsync();
    var buffer = new byte[64 * 1024];
    _ = await body.ReadAsync(buffer);
    var elapsed = watch.Elapsed.TotalMilliseconds;
    while (await body.ReadAsync(buffer) > 0)
    {
    }

    return elapsed;
}


static double P(List<double> values, int percentile)
{
    var sorted = values.Order().ToList();
    return sorted.Count == 0 ? double.NaN : BenchSupport.Percentile(sorted, percentile / 100.0);
}

int Arg(string name, int fallback) =>
    args.SkipWhile(a => a != name).Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(fallback);

/// <summary>Real Redis, Postgres and s3rver for the bench.</summary>
internal sealed class LocalServersHandle : IAsyncDisposable
{
    public LocalServers Servers { get; } = new() { WithStorage = true };

    public async ValueTask DisposeAsync() => await Servers.DisposeAsync();
}

/// <summary>The voice service with the real clock (the tests' app uses fake time).</summary>
internal sealed class BenchTtsApp(LocalServers servers, IDictionary<string, string?> settings) : ServiceApp<TtsService>(servers, ResourceNames.VoiceDb, settings)
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton(TimeProvider.System));
    }
}

/// <summary>
/// A stand-in for OpenAI's <c>POST /v1/audio/speech</c> (raw PCM16 24 kHz, ~15 characters a second, written in 100 ms
/// chunks at once); an input starting with FAIL answers 500, with STALL never answers.
/// </summary>
internal sealed class FakeSpeech : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stopping = new();

    private FakeSpeech(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = string.Empty;

    public static async Task<FakeSpeech> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeSpeech(app);
        app.MapPost("/v1/audio/speech", (HttpContext http) => fake.HandleAsync(http));
        await app.StartAsync();
        fake.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/v1/";
        return fake;
    }

    private async Task HandleAsync(HttpContext http)
    {
        var body = (await JsonNode.ParseAsync(http.Request.Body))!.AsObject();
        var input = body["input"]!.GetValue<string>();
        if (input.StartsWith("FAIL", StringComparison.Ordinal))
        {
            http.Response.StatusCode = 500;
            await http.Response.WriteAsJsonAsync(new { error = new { message = "The server had an error while processing your request.", type = "server_error" } });
            return;
        }

        if (input.StartsWith("STALL", StringComparison.Ordinal))
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, _stopping.Token);
            await Task.Delay(Timeout.Infinite, linked.Token).ContinueWith(_ => { }, TaskScheduler.Default);
            return;
        }

        const int rate = 24000;
        var samples = (int)(rate * Math.Max(0.5, input.Length / 15.0));
        var chunk = new byte[rate / 10 * 2];
        for (var done = 0; done < samples; done += chunk.Length / 2)
        {
            for (var i = 0; i < chunk.Length / 2; i++)
            {
                var s = (short)(8000 * Math.Sin(2 * Math.PI * 440 * (done + i) / rate));
                chunk[2 * i] = (byte)s;
                chunk[(2 * i) + 1] = (byte)(s >> 8);
            }

            await http.Response.Body.WriteAsync(chunk);
            await http.Response.Body.FlushAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _app.DisposeAsync();
        _stopping.Dispose();
    }
}
