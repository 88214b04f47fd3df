using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva;
using Sunaiva.Bench.Voice;
using Sunaiva.Testing;
using Sunaiva.Voice.Tts;

// Voice bench: the local pipeline end to end over a real socket (Kestrel on loopback, real Redis and Postgres).
// 1. End of user speech (known from the flite WAV: the last speech sample sent, in real time) to the first reply audio
//    byte at the client, p50/p95 over --turns turns, with the server's breakdown (endpointing, final transcript, reply,
//    TTS first byte, audio held for confirmation) and the rest (network + queueing), for each turn-taking mode side by
//    side: "off" (the baseline: the pipeline starts at the end-of-speech silence), "hold" (speculative: starts at a short
//    pause, audio released at the end-of-speech silence; the default) and "early" (speculative, audio sent at the pause
//    and retracted if the user goes on).
// 2. POST /tts time to first audio byte on a cache miss and a hit, beside a bare espeak-ng process (the baseline).
// 3. Concurrent sessions (1, 2, 3, 4, 6, 8, ...) until p95 passes 350 ms.
// --chromium: the client is Debian's headless Chromium on /voice/demo whose microphone is a WAV of --turns questions;
//    the page's console marks give the first reply audio at the client (see ChromiumClient.cs).
// Usage: dotnet run -c Release --project bench/Sunaiva.Bench.Voice [-- --turns 50 --max-sessions 8 --concurrency-turns 20
//        --modes off,hold,early --mode hold --chromium --verbose]
var turns = Arg("--turns", 50);
var maxSessions = Arg("--max-sessions", 8);
var concurrencyTurns = Arg("--concurrency-turns", 20);
var Verbose = args.Contains("--verbose");
var modes = ArgText("--modes", "off,hold,early").Split(',', StringSplitOptions.RemoveEmptyEntries);
var mainMode = ArgText("--mode", "hold");
var servers = new LocalServers();
await servers.InitializeAsync();
Console.WriteLine($"{Environment.ProcessorCount} cores, load average {LoadAverage()} at start");

string[] sentences = ["hello", "how are you", "what time is it", "thank you", "what is your name", "good morning"];
var clips = new List<(string Text, byte[] Pcm)>();
foreach (var s in sentences)
{
    clips.Add((s, await FliteAsync(s)));
}

if (args.Contains("--chromium"))
{
    await using var chromeApp = await StartAsync(mainMode);
    var measured = await ChromiumClient.RunAsync(chromeApp.ClientOptions.BaseAddress, clips, turns, Verbose);
    Report($"Chromium client (/voice/demo, fake microphone), mode {mainMode}: end of speech -> first reply audio at the page, {measured.Count} turns", measured);
    await servers.DisposeAsync();
    return;
}

BenchVoiceApp app = null!;
HttpClient http = null!;
Uri baseUri = null!;
foreach (var mode in modes.Where(m => m != mainMode).Append(mainMode))
{
    if (app is not null)
    {
        await app.DisposeAsync();
    }

    app = await StartAsync(mode);
    baseUri = app.ClientOptions.BaseAddress;
    http = new HttpClient { BaseAddress = baseUri };
    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", DevTokens.For("bench-user"));

    // 1. One session, sequential turns, after one warm-up turn (the process's first turn JIT-compiles the path).
    var warm = await RunSessionAsync(99, 1);
    var single = await RunSessionAsync(0, turns);
    Console.WriteLine();
    Console.WriteLine($"mode {mode}: warm-up turn {warm[0].Total:F0} ms (not counted)");
    Report($"mode {mode} ({Describe(mode)}): end of speech -> first reply audio, 1 session, {single.Count} turns", single);
}

// 2. TTS first byte: miss vs hit, against a bare espeak-ng.
var miss = new List<double>();
var hit = new List<double>();
var bare = new List<double>();
for (var i = 0; i < 20; i++)
{
    var text = $"Your number today is {i} {Guid.NewGuid().ToString()[..4]}.";
    miss.Add(await BenchSupport.TtsFirstByteAsync(http, "en-GB-female-1", text, "miss"));
    hit.Add(await BenchSupport.TtsFirstByteAsync(http, "en-GB-female-1", text, "hit"));
    bare.Add(await BareEspeakFirstByteAsync(text));
}

Console.WriteLine();
Console.WriteLine("POST /tts, time to first audio byte (20 texts):");
Console.WriteLine($"  bare espeak-ng process (baseline)  p50 {P(bare, 50),7:F1} ms");
Console.WriteLine($"  cache miss (chain + espeak-ng)     p50 {P(miss, 50),7:F1} ms   x{P(miss, 50) / P(bare, 50):F2} of baseline");
Console.WriteLine($"  cache hit                          p50 {P(hit, 50),7:F1} ms   x{P(hit, 50) / P(bare, 50):F2} of baseline");

// 3. Concurrency.
Console.WriteLine();
Console.WriteLine($"Concurrent sessions, mode {mainMode} ({concurrencyTurns} turns each, load average {LoadAverage()}):");
var withinGoal = 0;
foreach (var n in new[] { 1, 2, 3, 4, 6, 8, 12, 16 }.Where(n => n <= maxSessions))
{
    var runs = await Task.WhenAll(Enumerable.Range(0, n).Select(i => RunSessionAsync(100 + (n * 10) + i, concurrencyTurns)));
    var all = runs.SelectMany(r => r).ToList();
    var p95 = P(all.Select(t => t.Total).ToList(), 95);
    Console.WriteLine($"  {n,2} sessions: p50 {P(all.Select(t => t.Total).ToList(), 50),6:F0} ms  p95 {p95,6:F0} ms  ({all.Count} turns)");
    if (p95 > 350)
    {
        break;
    }

    withinGoal = n;
}

Console.WriteLine($"  concurrent sessions on {Environment.ProcessorCount} cores with p95 <= 350 ms: {withinGoal}{(withinGoal == maxSessions ? " (the most tried)" : string.Empty)}");
Console.WriteLine($"load average {LoadAverage()} at the end");
await app.DisposeAsync();
await servers.DisposeAsync();
return;

async Task<BenchVoiceApp> StartAsync(string mode)
{
    var settings = new Dictionary<string, string?>
    {
        ["Voice:Pipeline:SpeculativeSilence"] = mode == "off" ? "00:00:00" : "00:00:00.064",
        ["Voice:Pipeline:EarlyAudio"] = mode == "early" ? "true" : "false",
    };
    var started = new BenchVoiceApp(servers, settings);
    started.UseKestrel(0);
    started.StartServer();
    Console.WriteLine($"Voice at {started.ClientOptions.BaseAddress} (Kestrel, loopback), mode {mode}");
    // Models loaded and greetings, fillers and error phrases cached by the start-up service before measuring.
    await started.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<TtsWarmup>().Single().Warmed;
    return started;
}

static string Describe(string mode) => mode switch
{
    "off" => "baseline: the pipeline starts after 128 ms of silence",
    "hold" => "speculative at a 64 ms pause, audio released after 128 ms of silence",
    "early" => "speculative at a 64 ms pause, audio sent at once, retracted if the user goes on",
    _ => mode,
};

async Task<List<Turn>> RunSessionAsync(int index, int count)
{
    var created = await http.PostAsJsonAsync("/voice/sessions", new { voiceId = "en-US-female-1", mode = "local" });
    var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    using var socket = new ClientWebSocket();
    socket.Options.SetRequestHeader("Authorization", $"Bearer {DevTokens.For("bench-user")}");
    await socket.ConnectAsync(new Uri($"ws://{baseUri!.Authority}/voice/sessions/{id}/stream"), CancellationToken.None);
    var results = new List<Turn>();
    var firstAudio = new TaskCompletionSource<long>();
    var latency = new TaskCompletionSource<JsonElement>();
    var done = new TaskCompletionSource();
    var currentTurn = 0;
    var retracts = 0;
    long streamSamples = 0; // bytes sent on this socket so far
    var reader = Task.Run(async () =>
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (socket.State == WebSocketState.Open)
        {
            WebSocketReceiveResult r;
            try
            {
                r = await socket.ReceiveAsync(buffer, CancellationToken.None);
            }
            catch (WebSocketException)
            {
                return;
            }

            if (r.MessageType == WebSocketMessageType.Close)
            {
                return;
            }

            if (r.MessageType == WebSocketMessageType.Binary)
            {
                firstAudio.TrySetResult(Stopwatch.GetTimestamp());
                continue;
            }

            message.Write(buffer, 0, r.Count);
            if (!r.EndOfMessage)
            {
                continue;
            }

            var e = JsonDocument.Parse(message.ToArray()).RootElement.Clone();
            message.SetLength(0);
            var type = e.GetProperty("type").GetString();
            if (type == "retract")
            {
                // The reply started at a pause was not the answer (the user went on): its audio does not count.
                Interlocked.Increment(ref retracts);
                firstAudio = new TaskCompletionSource<long>();
            }
            else if (type == "latency" && e.GetProperty("turn").GetInt32() == Volatile.Read(ref currentTurn))
            {
                latency.TrySetResult(e);
            }
            else if (type == "transcript" && e.GetProperty("role").GetString() == "assistant" && e.GetProperty("final").GetBoolean())
            {
                done.TrySetResult();
            }
        }
    });

    var frame = 640; // 20 ms
    for (var t = 0; t < count; t++)
    {
        var (_, pcm) = clips[(t + index) % clips.Count];
        firstAudio = new TaskCompletionSource<long>();
        latency = new TaskCompletionSource<JsonElement>();
        done = new TaskCompletionSource();
        Volatile.Write(ref currentTurn, t + 1);
        var started = Stopwatch.GetTimestamp();
        var trueEndSample = (streamSamples + pcm.Length) / 2;
        long endOfSpeech = 0;
        var speechBytes = pcm.Length;
        var sent = 0;
        // Like a microphone: frame k holds the audio of [k*20, (k+1)*20) ms and leaves when that interval is over, always
        // full (the last speech frame is padded with silence), so the stream never runs ahead of real time; silence keeps
        // flowing (a microphone does not stop) until the reply is complete. The end of speech is the wall time of the
        // last speech sample's audio time.
        for (var k = 0; !done.Task.IsCompleted && k < 1000; k++)
        {
            var due = started + (long)((k + 1) * 0.020 * Stopwatch.Frequency);
            var wait = due - Stopwatch.GetTimestamp();
            if (wait > 0)
            {
                await Task.WhenAny(Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency)), done.Task);
            }

            var chunk = new byte[frame];
            if (sent < speechBytes)
            {
                var n = Math.Min(frame, speechBytes - sent);
                pcm.AsSpan(sent, n).CopyTo(chunk);
                if (sent + n >= speechBytes)
                {
                    endOfSpeech = started + (long)((((k * frame) + n) / 32_000.0) * Stopwatch.Frequency);
                }
            }

            await socket.SendAsync(chunk, WebSocketMessageType.Binary, true, CancellationToken.None);
            sent += frame;
            streamSamples += frame;
        }

        var arrived = await firstAudio.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var marks = await latency.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        results.Add(new Turn(
            (arrived - endOfSpeech) * 1000.0 / Stopwatch.Frequency,
            Num(marks, "endpointingMs"), Num(marks, "sttMs"), Num(marks, "replyMs"), Num(marks, "ttsFirstByteMs"), Num(marks, "serverMs"),
            marks.GetProperty("cacheHit").GetBoolean(), Num(marks, "holdMs"), Interlocked.Exchange(ref retracts, 0),
            marks.TryGetProperty("speechEndSample", out var vadEnd) && vadEnd.ValueKind == JsonValueKind.Number ? (vadEnd.GetInt64() - trueEndSample) / 16.0 : double.NaN));
        if (Verbose)
        {
            Console.WriteLine($"    s{index} t{t + 1} \"{clips[(t + index) % clips.Count].Text}\": total {results[^1].Total:F0} ms, server {results[^1].Server:F0} (endpointing {results[^1].Endpointing:F0}, stt {results[^1].Stt:F0}, reply {results[^1].Reply:F0}, tts {results[^1].Tts:F0})");
        }

        await Task.Delay(300); // the user listens a moment before the next turn
    }

    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
    await reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
    return results;
}


static async Task<double> BareEspeakFirstByteAsync(string text)
{
    var watch = Stopwatch.StartNew();
    var start = new ProcessStartInfo("espeak-ng") { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in new[] { "-v", "en-gb+f3", "--stdout", "--", text })
    {
        start.ArgumentList.Add(a);
    }

    using var process = Process.Start(start)!;
    var buffer = new byte[64 * 1024];
    var got = 0;
    while (got <= 44)
    {
        var n = await process.StandardOutput.BaseStream.ReadAsync(buffer);
        if (n == 0)
        {
            break;
        }

        got += n;
    }

    var elapsed = watch.Elapsed.TotalMilliseconds;
    await process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
    await process.WaitForExitAsync();
    return elapsed;
}

static async Task<byte[]> FliteAsync(string text)
{
    var file = Path.Combine(Path.GetTempPath(), $"bench-{Guid.NewGuid():N}.wav");
    var start = new ProcessStartInfo("flite") { RedirectStandardError = true, RedirectStandardOutput = true };
    foreach (var a in new[] { "-voice", "slt", "-t", text, "-o", file })
    {
        start.ArgumentList.Add(a);
    }

    using (var process = Process.Start(start)!)
    {
        await process.WaitForExitAsync();
    }

    var wav = await File.ReadAllBytesAsync(file);
    File.Delete(file);
    var rate = BitConverter.ToInt32(wav, 24);
    var pcm = new PcmResampler(rate, TtsFormat.SampleRate).Process(wav.AsSpan(44));

    // Trim flite's own trailing silence so the end of the array is the end of speech, then add a known tail.
    var last = pcm.Length / 2 - 1;
    while (last > 0 && Math.Abs((int)BitConverter.ToInt16(pcm, last * 2)) < 300)
    {
        last--;
    }

    return [.. new byte[16 * 2 * 200], .. pcm.AsSpan(0, (last + 1) * 2)];
}

static void Report(string title, List<Turn> list)
{
    double Q(Func<Turn, double> f, int p) => P(list.Select(f).ToList(), p);
    Console.WriteLine();
    Console.WriteLine(title + ":");
    Console.WriteLine($"  total        p50 {Q(t => t.Total, 50),7:F1} ms   p95 {Q(t => t.Total, 95),7:F1} ms   max {list.Max(t => t.Total),7:F1} ms   (goal p50 <= 200, p95 <= 350)");
    Console.WriteLine($"  endpointing  p50 {Q(t => t.Endpointing, 50),7:F1} ms   (silence heard when the pipeline started)");
    Console.WriteLine($"  final STT    p50 {Q(t => t.Stt, 50),7:F1} ms   p95 {Q(t => t.Stt, 95),7:F1} ms");
    Console.WriteLine($"  reply        p50 {Q(t => t.Reply, 50),7:F1} ms   p95 {Q(t => t.Reply, 95),7:F1} ms   (to the first sentence, from the final transcript)");
    Console.WriteLine($"  TTS 1st byte p50 {Q(t => t.Tts, 50),7:F1} ms   p95 {Q(t => t.Tts, 95),7:F1} ms   ({list.Count(t => t.CacheHit)} of {list.Count} first sentences from the cache)");
    Console.WriteLine($"  held         p50 {Q(t => t.Hold, 50),7:F1} ms   (ready audio waiting for the end-of-speech silence to confirm the turn)");
    Console.WriteLine($"  server total p50 {Q(t => t.Server, 50),7:F1} ms   p95 {Q(t => t.Server, 95),7:F1} ms   (VAD's end of speech -> first audio frame to the socket)");
    if (list.Any(t => !double.IsNaN(t.HangOver)))
    {
        var h = list.Where(t => !double.IsNaN(t.HangOver)).Select(t => t.HangOver).ToList();
        Console.WriteLine($"  VAD hang-over p50 {P(h, 50),6:F1} ms   p95 {P(h, 95),7:F1} ms   (where the VAD put the end of speech, after the true end)");
    }

    Console.WriteLine($"  rest         p50 {Q(t => t.Total - t.Server, 50),7:F1} ms   p95 {Q(t => t.Total - t.Server, 95),7:F1} ms   (VAD hang-over after the last word, 32 ms windows, network, client)");
    Console.WriteLine($"  retracted speculative replies: {list.Sum(t => t.Retracts)}");
}

static double Num(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;

static double P(List<double> values, int percentile)
{
    if (values.Count == 0)
    {
        return double.NaN;
    }

    var sorted = values.Order().ToList();
    var index = (int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1;
    return sorted[Math.Clamp(index, 0, sorted.Count - 1)];
}

int Arg(string name, int fallback) =>
    args.SkipWhile(a => a != name).Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(fallback);

string ArgText(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault(fallback);

static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

/// <summary>One measured turn: client total and the server's marks (ms), and how many speculative replies were retracted.</summary>
internal sealed record Turn(double Total, double Endpointing, double Stt, double Reply, double Tts, double Server, bool CacheHit, double Hold, int Retracts, double HangOver = double.NaN);

/// <summary>The voice service (the assembly of TtsService) on Kestrel with the real clock (the tests' app uses fake time).</summary>
internal sealed class BenchVoiceApp(LocalServers servers, IDictionary<string, string?> settings) : ServiceApp<TtsService>(servers, ResourceNames.VoiceDb, settings)
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton(TimeProvider.System));
    }
}
