using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Testing;
using Sunaiva.Voice.Sessions;
using Sunaiva.Voice.Tts;
using Xunit.Abstractions;

namespace Sunaiva.Voice.Tests;

/// <summary>/voice/demo driven by headless Chromium whose microphone is a flite WAV: a real browser client end to end.</summary>
[Collection(ServersCollection.Name)]
public sealed class DemoBrowserTests(LocalServers servers, ITestOutputHelper output) : IAsyncLifetime
{
    private readonly VoiceApp _app = new(servers, new Dictionary<string, string?> { ["Voice:Tts:WarmAtStart"] = "false" });

    public Task InitializeAsync()
    {
        _app.UseKestrel(0);
        _app.StartServer();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task A_question_spoken_into_the_demo_page_in_chromium_gets_a_transcript_and_an_answer()
    {
        const string sentence = "hello how are you today";
        using var client = _app.ClientFor("chrome-user");
        var created = await client.PostAsJsonAsync("/voice/sessions", new { voiceId = "en-US-female-1", mode = "local" });
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var folder = Directory.CreateTempSubdirectory("sunaiva-chromium-");
        var wav = Path.Combine(folder.FullName, "question.wav");
        var pcm = await Speech.FliteAsync(sentence, trailingSilenceMs: 1500);
        await File.WriteAllBytesAsync(wav, [.. TtsFormat.WavHeader(pcm.Length + 32000), .. new byte[32000], .. pcm]);
        var url = $"{_app.ClientOptions.BaseAddress}voice/demo#token={DevTokens.For("chrome-user")}&session={id}&autostart=1";

        var start = new ProcessStartInfo("chromium") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", $"--user-data-dir={Path.Combine(folder.FullName, "profile")}",
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", $"--use-file-for-fake-audio-capture={wav}%noloop",
            "--autoplay-policy=no-user-gesture-required", url,
        })
        {
            start.ArgumentList.Add(a);
        }

        using var chromium = Process.Start(start)!;
        _ = chromium.StandardOutput.ReadToEndAsync();
        _ = chromium.StandardError.ReadToEndAsync();
        try
        {
            var store = _app.Services.GetRequiredService<SessionStore>();
            var history = await Eventually.Get(() => store.HistoryAsync(id, 10), h => h.Any(e => e.Role == "assistant"), maxSeconds: 120);
            Assert.Contains(history, e => e.Role == "assistant");

            var heard = history.First(e => e.Role == "user").Text;
            var wer = Speech.WordErrorRate(sentence, heard);
            output.WriteLine($"chromium said \"{sentence}\", the pipeline heard \"{heard}\" (WER {wer:P0}), answered \"{history.First(e => e.Role == "assistant").Text}\"");
            Assert.True(wer < 0.5, $"word error rate {wer:P0}");
            var events = await store.EventsAfterAsync(id, 0);
            Assert.Contains(events, e => e.Contains("\"audio_start\"", StringComparison.Ordinal));
        }
        finally
        {
            chromium.Kill(entireProcessTree: true);
            await chromium.WaitForExitAsync();
            folder.Delete(recursive: true);
        }
    }
}
