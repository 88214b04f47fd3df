using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Testing;
using Sunaiva.Voice.Sessions;
using Xunit.Abstractions;

namespace Sunaiva.Voice.Tests;

/// <summary>
/// Speculative turn-taking: a short pause starts the reply, the end-of-speech silence confirms it, and speech that resumes
/// in between keeps one turn with the whole sentence. The silences here are long (a 96 ms pause, a 1 s end of speech) so
/// that flite's pause between two phrases is surely a pause and never an end, whatever the VAD's hang-over.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class SpeculativeTurnTests(LocalServers servers, ITestOutputHelper output)
{
    private const string First = "hello";
    private const string Second = "how are you doing today";

    [Fact]
    public async Task Speech_that_resumes_after_a_short_pause_gives_one_turn_with_the_whole_sentence_and_held_audio_is_never_sent_early()
    {
        await using var app = await StartAsync(earlyAudio: false);
        var id = await CreateSessionAsync(app, "pia");
        await using var client = await VoiceClient.ConnectAsync(app, id, "pia");

        await client.SendPcmAsync(await Speech.FliteAsync(First, trailingSilenceMs: 250));
        await Task.Delay(500); // room for the speculative reply to be produced (and held) before the user goes on
        Assert.Empty(client.Audio);
        Assert.DoesNotContain(client.Events, e => VoiceClient.Is("transcript", "user", final: true)(e));
        await client.SendPcmAsync(await Speech.FliteAsync(Second, trailingSilenceMs: 2500));

        var reply = await client.WaitForAsync(VoiceClient.Is("transcript", "assistant", final: true, turn: 1), "the reply");
        await AssertOneTurnWithTheWholeSentenceAsync(app, client, id);
        Assert.False(string.IsNullOrWhiteSpace(reply.GetProperty("text").GetString()));
        Assert.DoesNotContain(client.Events, e => VoiceClient.Is("retract")(e));
        var latency = await client.WaitForAsync(VoiceClient.Is("latency", turn: 1), "latency marks");
        Assert.True(latency.GetProperty("speculative").GetBoolean(), "the confirmed turn was prepared at the pause");
        Assert.False(latency.GetProperty("earlyAudio").GetBoolean());
        await client.WaitForAsync(VoiceClient.Is("audio_end", turn: 1), "the reply's audio");
        Assert.True(Speech.HasSound(client.Audio));
        var seqs = client.Events.Where(e => e.TryGetProperty("seq", out _)).Select(e => e.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
    }

    [Fact]
    public async Task With_early_audio_a_reply_started_at_a_pause_is_retracted_when_the_user_goes_on_and_the_turn_stays_whole()
    {
        await using var app = await StartAsync(earlyAudio: true);
        var id = await CreateSessionAsync(app, "quin");
        await using var client = await VoiceClient.ConnectAsync(app, id, "quin");

        await client.SendPcmAsync(await Speech.FliteAsync(First, trailingSilenceMs: 250));
        await Eventually.UntilAsync(() => Task.FromResult(client.Audio.Length > 0), "the speculative reply's audio, sent at once");
        await client.SendPcmAsync(await Speech.FliteAsync(Second, trailingSilenceMs: 2500));

        var retract = await client.WaitForAsync(VoiceClient.Is("retract"), "the retraction");
        Assert.Equal(1, retract.GetProperty("turn").GetInt32());
        Assert.False(retract.TryGetProperty("seq", out _), "a retraction is live only: nothing of the dropped reply was stored");
        await client.WaitForAsync(VoiceClient.Is("transcript", "assistant", final: true, turn: 1), "the reply");
        await AssertOneTurnWithTheWholeSentenceAsync(app, client, id);
    }

    private async Task AssertOneTurnWithTheWholeSentenceAsync(VoiceApp app, VoiceClient client, string id)
    {
        Assert.Single(client.Events, e => VoiceClient.Is("transcript", "user", final: true)(e));
        var heard = client.Events.First(VoiceClient.Is("transcript", "user", final: true));
        Assert.Equal(1, heard.GetProperty("turn").GetInt32());
        var text = heard.GetProperty("text").GetString()!;
        var wer = Speech.WordErrorRate($"{First} {Second}", text);
        output.WriteLine($"said \"{First}\" (pause) \"{Second}\", heard \"{text}\", WER {wer:P0}");
        Assert.True(wer < 0.5, $"word error rate {wer:P0} against the whole sentence (the first phrase alone is 83 %)");
        var history = await app.Services.GetRequiredService<SessionStore>().HistoryAsync(id, 20);
        Assert.Equal(["user:1", "assistant:1"], history.Select(h => $"{h.Role}:{h.Turn}"));
        Assert.Single(client.Events, e => VoiceClient.Is("transcript", "assistant", final: true)(e));
    }

    private async Task<VoiceApp> StartAsync(bool earlyAudio)
    {
        var app = new VoiceApp(servers, new Dictionary<string, string?>
        {
            ["Voice:Tts:WarmAtStart"] = "false",
            ["Voice:Pipeline:SpeculativeSilence"] = "00:00:00.096",
            ["Voice:Pipeline:EndOfSpeechSilence"] = "00:00:01",
            ["Voice:Pipeline:EarlyAudio"] = earlyAudio ? "true" : "false",
        });
        await app.StartAsync();
        return app;
    }

    private static async Task<string> CreateSessionAsync(VoiceApp app, string user)
    {
        using var client = app.ClientFor(user);
        var response = await client.PostAsJsonAsync("/voice/sessions", new { voiceId = "en-US-female-1", mode = "local" });
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }
}
