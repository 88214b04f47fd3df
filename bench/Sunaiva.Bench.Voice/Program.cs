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
using Sunaiva.Testing;
using Sunaiva.Voice.Tts;

// Voice bench: the local pipeline end to end over a real socket (Kestrel on loopback, real Redis and Postgres).
// 1. End of user speech (known from the flite WAV: the last speech sample sent, in real time) to the first reply audio
//    byte at the client, p50/p95 over --turns turns, with the server's breakdown (endpointing, final transcript, reply,
//    TTS first byte) and the rest (network + queueing).
// 2. POST /tts time to first audio byte on a cache miss and a hit, beside a bare espeak-ng process (the baseline).
// 3. Concurrent sessions (1, 2, 4, ...) until p95 passes 350 ms.
// Usage: dotnet run -c Release --project bench/Sunaiva.Bench.Voice [-- --turns 50 --max-sessions 8]
var turns = Arg("--turns", 50);
var maxSessions = Arg("--max-sessions", 8);
var Verbose = args.Contains("--verbose");
var servers = new LocalServers();
await servers.InitializeAsync();
await using var app = new BenchVoiceApp(servers);
app.UseKestrel(0);
app.StartServer();
var baseUri = app.ClientOptions.BaseAddress;
Console.WriteLine($"Voice at {baseUri} (Kestrel, loopback), {Environment.ProcessorCount} cores");

string[] sentences = ["hello", "how are you", "what time is it", "thank you", "what is your name", "good morning"];
var clips = new List<(string Text, byte[] Pcm)>();
foreach (var s in sentences)
{
    clips.Add((s, await FliteAsync(s)));
}

using var http = new HttpClient { BaseAddress = baseUri };
http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", DevTokens.For("bench-user"));
// Models loaded and greetings, fillers and error phrases cached by the start-up service before measuring.
await app.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<TtsWarmup>().Single().Warmed;

// 1. One session, sequential turns.
var single = await RunSessionAsync(0, turns);
Report($"end of speech -> first reply audio, 1 session, {single.Count} turns", single);

// 2. TTS first byte: miss vs hit, against a bare espeak-ng.
var miss = new List<double>();
var hit = new List<double>();
var bare = new List<double>();
for (var i = 0; i < 20; i++)
{
    var text = $"Your number today is {i} {Guid.NewGuid().ToString()[..4]}.";
    miss.Add(await TtsFirstByteAsync(text, "miss"));
    hit.Add(await TtsFirstByteAsync(text, "hit"));
    bare.Add(await BareEspeakFirstByteAsync(text));
}

Console.WriteLine();
Console.WriteLine("POST /tts, time to first audio byte (20 texts):");
Console.WriteLine($"  bare espeak-ng process (baseline)  p50 {P(bare, 50),7:F1} ms");
Console.WriteLine($"  cache miss (chain + espeak-ng)     p50 {P(miss, 50),7:F1} ms   x{P(miss, 50) / P(bare, 50):F2} of baseline");
Console.WriteLine($"  cache hit                          p50 {P(hit, 50),7:F1} ms   x{P(hit, 50) / P(bare, 50):F2} of baseline");

// 3. Concurrency.
Console.WriteLine();
Console.WriteLine("Concurrent sessions (10 turns each):");
for (var n = 1; n <= maxSessions; n *= 2)
{
    var runs = await Task.WhenAll(Enumerable.Range(0, n).Select(i => RunSessionAsync(100 + (n * 10) + i, 10)));
    var all = runs.SelectMany(r => r).ToList();
    var p95 = P(all.Select(t => t.Total).ToList(), 95);
    Console.WriteLine($"  {n,2} sessions: p50 {P(all.Select(t => t.Total).ToList(), 50),6:F0} ms  p95 {p95,6:F0} ms  ({all.Count} turns)");
    if (p95 > 350)
    {
        Console.WriteLine($"  p95 passed 350 ms at {n} concurrent sessions");
        break;
    }
}

await servers.DisposeAsync();
return;

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
            if (type == "latency" && e.GetProperty("turn").GetInt32() == Volatile.Read(ref currentTurn))
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
        long endOfSpeech = 0;
        var speechBytes = pcm.Length;
        var sent = 0;
        // Real time: frame k leaves at k*20 ms; silence keeps flowing until the reply's first audio byte arrives.
        for (var k = 0; !firstAudio.Task.IsCompleted && k < 1000; k++)
        {
            var due = started + (long)(k * 0.020 * Stopwatch.Frequency);
            var wait = due - Stopwatch.GetTimestamp();
            if (wait > 0)
            {
                await Task.WhenAny(Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency)), firstAudio.Task);
            }

            var chunk = sent < pcm.Length ? pcm.AsMemory(sent, Math.Min(frame, pcm.Length - sent)) : new byte[frame];
            await socket.SendAsync(chunk, WebSocketMessageType.Binary, true, CancellationToken.None);
            sent += chunk.Length;
            if (endOfSpeech == 0 && sent >= speechBytes)
            {
                // The last speech sample is in this frame: it has "happened" once the frame's audio time has elapsed.
                endOfSpeech = due + (long)(0.020 * Stopwatch.Frequency);
            }
        }

        var arrived = await firstAudio.Task;
        var marks = await latency.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await done.Task.WaitAsync(TimeSpan.FromSeconds(10));
        results.Add(new Turn(
            (arrived - endOfSpeech) * 1000.0 / Stopwatch.Frequency,
            Num(marks, "endpointingMs"), Num(marks, "sttMs"), Num(marks, "replyMs"), Num(marks, "ttsFirstByteMs"), Num(marks, "serverMs"),
            marks.GetProperty("cacheHit").GetBoolean()));
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

async Task<double> TtsFirstByteAsync(string text, string expect)
{
    var watch = Stopwatch.StartNew();
    using var request = new HttpRequestMessage(HttpMethod.Post, "/tts") { Content = JsonContent.Create(new { voiceId = "en-GB-female-1", text }) };
    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    await using var body = await response.Content.ReadAsStreamAsync();
    var buffer = new byte[64 * 1024];
    var got = 0;
    while (got <= 44)
    {
        var n = await body.ReadAsync(buffer);
        if (n == 0)
        {
            break;
        }

        got += n;
    }

    var elapsed = watch.Elapsed.TotalMilliseconds;
    while (await body.ReadAsync(buffer) > 0)
    {
    }

    var cache = response.Headers.GetValues("Sunaiva-Tts-Cache").Single();
    if (cache != expect)
    {
        Console.WriteLine($"  (expected a {expect}, got a {cache})");
    }

    return elapsed;
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

void Report(string title, List<Turn> list)
{
    Console.WriteLine();
    Console.WriteLine(title + ":");
    Console.WriteLine($"  total        p50 {P(list.Select(t => t.Total).ToList(), 50),7:F1} ms   p95 {P(list.Select(t => t.Total).ToList(), 95),7:F1} ms   (goal p50 <= 200, p95 <= 350)");
    Console.WriteLine($"  endpointing  p50 {P(list.Select(t => t.Endpointing).ToList(), 50),7:F1} ms   (silence needed to end the turn)");
    Console.WriteLine($"  final STT    p50 {P(list.Select(t => t.Stt).ToList(), 50),7:F1} ms");
    Console.WriteLine($"  reply        p50 {P(list.Select(t => t.Reply).ToList(), 50),7:F1} ms   (to the first sentence, from the final transcript)");
    Console.WriteLine($"  TTS 1st byte p50 {P(list.Select(t => t.Tts).ToList(), 50),7:F1} ms   ({list.Count(t => t.CacheHit)} of {list.Count} first sentences from the cache)");
    Console.WriteLine($"  network etc. p50 {P(list.Select(t => t.Total - t.Server).ToList(), 50),7:F1} ms   (client total minus server time)");
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

internal sealed record Turn(double Total, double Endpointing, double Stt, double Reply, double Tts, double Server, bool CacheHit);

/// <summary>The voice service (the assembly of TtsService) on Kestrel with the real clock (the tests' app uses fake time).</summary>
internal sealed class BenchVoiceApp(LocalServers servers) : ServiceApp<TtsService>(servers, ResourceNames.VoiceDb)
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton(TimeProvider.System));
    }
}
