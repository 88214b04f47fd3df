using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Sunaiva.Testing;
using Sunaiva.Voice.Tts;

namespace Sunaiva.Bench.Voice;

/// <summary>
/// The bench's real browser client: Debian's headless Chromium opens /voice/demo with a fake microphone playing one WAV
/// (an alignment beep, then the questions with long gaps), and the page prints console marks (<c>#marks=1</c>): when
/// reply audio starts arriving, each turn's <c>latency</c> event, and its capture clock. End of speech at the page is
/// the capture clock's zero plus the WAV offset of the last speech sample (lined up on the beep's first loud sample).
/// </summary>
internal static partial class ChromiumClient
{
    private const int Rate = TtsFormat.SampleRate;
    private const int GapMs = 2600;

    public static async Task<List<Turn>> RunAsync(Uri baseUri, List<(string Text, byte[] Pcm)> clips, int turns, bool verbose)
    {
        using var http = new HttpClient { BaseAddress = baseUri };
        var token = DevTokens.For("bench-chrome");
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var created = await http.PostAsJsonAsync("/voice/sessions", new { voiceId = "en-US-female-1", mode = "local" });
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        // The microphone: 1 s of silence, a 40 ms beep (alignment; too short to be a turn), 1.5 s of silence, then turns + 1
        // questions (the first a warm-up) each followed by a gap long enough for the reply.
        var pcm = new MemoryStream();
        Silence(pcm, 1000);
        var beepAt = pcm.Length / 2;
        for (var i = 0; i < Rate * 40 / 1000; i++)
        {
            var v = (short)(Math.Sin(2 * Math.PI * 1000 * i / Rate) * 26000);
            pcm.WriteByte((byte)v);
            pcm.WriteByte((byte)(v >> 8));
        }

        Silence(pcm, 1500);
        var endsOfSpeech = new List<long>();
        for (var t = 0; t <= turns; t++)
        {
            var clip = clips[t % clips.Count].Pcm;
            pcm.Write(clip);
            endsOfSpeech.Add(pcm.Length / 2);
            Silence(pcm, GapMs);
        }

        var folder = Directory.CreateTempSubdirectory("sunaiva-bench-chromium-");
        var wav = Path.Combine(folder.FullName, "microphone.wav");
        var data = pcm.ToArray();
        await File.WriteAllBytesAsync(wav, [.. TtsFormat.WavHeader(data.Length), .. data]);
        var seconds = data.Length / 2.0 / Rate;
        Console.WriteLine($"Chromium: {turns + 1} questions in a {seconds:F0} s WAV (first one a warm-up), session {id}");

        var start = new ProcessStartInfo("chromium") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0",
            $"--user-data-dir={Path.Combine(folder.FullName, "profile")}",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", $"--use-file-for-fake-audio-capture={wav}%noloop",
            "--autoplay-policy=no-user-gesture-required",
            $"{baseUri}voice/demo#token={token}&session={id}&autostart=1&marks=1",
        })
        {
            start.ArgumentList.Add(a);
        }

        var marks = new ConcurrentQueue<JsonElement>();
        using var chromium = Process.Start(start)!;
        _ = chromium.StandardOutput.ReadToEndAsync();
        var reader = Task.Run(async () =>
        {
            while (await chromium.StandardError.ReadLineAsync() is { } line)
            {
                var m = MarkLine().Match(line);
                if (m.Success)
                {
                    marks.Enqueue(JsonDocument.Parse(Regex.Unescape(m.Groups[1].Value)).RootElement.Clone());
                }
            }
        });

        try
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed.TotalSeconds < seconds + 60
                   && marks.Count(m => Kind(m) == "latency") < turns + 1
                   && !chromium.HasExited)
            {
                await Task.Delay(500);
            }
        }
        finally
        {
            chromium.Kill(entireProcessTree: true);
            await chromium.WaitForExitAsync();
            await reader.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default);
            folder.Delete(recursive: true);
        }

        var all = marks.ToList();
        var onset = all.FirstOrDefault(m => Kind(m) == "onset");
        var captures = all.Where(m => Kind(m) == "capture").ToList();
        if (onset.ValueKind == JsonValueKind.Undefined || captures.Count == 0)
        {
            Console.WriteLine($"Chromium: no capture marks ({all.Count} marks); is chromium installed and the page reachable?");
            return [];
        }

        // Page time (ms) of WAV sample k.
        var zero = captures.Min(m => m.GetProperty("zero").GetDouble());
        var onsetCaptured = onset.GetProperty("sample").GetInt64();
        double PageTime(long wavSample) => zero + ((wavSample - beepAt + onsetCaptured) * 1000.0 / Rate);

        var audio = all.Where(m => Kind(m) == "audio").Select(T).Order().ToList();
        var latency = all.Where(m => Kind(m) == "latency").ToList();
        var results = new List<Turn>();
        for (var t = 0; t <= turns; t++)
        {
            var eos = PageTime(endsOfSpeech[t]);
            var next = t < turns ? PageTime(endsOfSpeech[t + 1]) : double.MaxValue;
            var first = audio.Where(a => a > eos - 100 && a < next).DefaultIfEmpty(double.NaN).First();
            if (double.IsNaN(first))
            {
                Console.WriteLine($"  turn {t}: no reply audio before the next question");
                continue;
            }

            var marksOfTurn = latency.FirstOrDefault(l => T(l) >= first && T(l) < next);
            var turn = new Turn(first - eos, Num(marksOfTurn, "endpointingMs"), Num(marksOfTurn, "sttMs"), Num(marksOfTurn, "replyMs"),
                Num(marksOfTurn, "ttsFirstByteMs"), Num(marksOfTurn, "serverMs"), marksOfTurn.ValueKind == JsonValueKind.Object && marksOfTurn.GetProperty("cacheHit").GetBoolean(),
                Num(marksOfTurn, "holdMs"), all.Count(m => Kind(m) == "retract" && T(m) > eos && T(m) < next));
            if (verbose)
            {
                Console.WriteLine($"    chromium t{t} \"{clips[t % clips.Count].Text}\": total {turn.Total:F0} ms, server {turn.Server:F0}");
            }

            if (t == 0)
            {
                Console.WriteLine($"Chromium: warm-up turn {turn.Total:F0} ms (not counted)");
                continue;
            }

            results.Add(turn);
        }

        return results;
    }

    private static void Silence(MemoryStream pcm, int ms) => pcm.Write(new byte[Rate * ms / 1000 * 2]);

    private static string? Kind(JsonElement m) => m.GetProperty("kind").GetString();

    private static double T(JsonElement m) => m.GetProperty("t").GetDouble();

    private static double Num(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;

    [GeneratedRegex("sunaiva-mark (\\{.*\\})\", source")]
    private static partial Regex MarkLine();
}
