using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Testing;
using Sunaiva.Voice.Sessions;
using Xunit.Abstractions;

namespace Sunaiva.Voice.Tests;

[Collection(ServersCollection.Name)]
public sealed class VoicePipelineTests(LocalServers servers, ITestOutputHelper output) : IAsyncLifetime
{
    private readonly VoiceApp _app = new(servers, new Dictionary<string, string?> { ["Voice:Tts:WarmAtStart"] = "false" });

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    private async Task<string> CreateSessionAsync(string user, string voiceId = "en-US-female-1")
    {
        using var client = _app.ClientFor(user);
        var response = await client.PostAsJsonAsync("/voice/sessions", new { voiceId, mode = "auto" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("local", body.GetProperty("mode").GetString());
        Assert.Equal(16000, body.GetProperty("local").GetProperty("sampleRate").GetInt32());
        return body.GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task A_session_whose_resume_window_passes_is_announced_as_ended_once()
    {
        var id = await CreateSessionAsync("eve");
        using var eve = _app.ClientFor("eve");
        var said = await eve.PostAsJsonAsync($"/voice/sessions/{id}/messages", new { text = "Hello there", id = "t1" });
        Assert.Equal(HttpStatusCode.Accepted, said.StatusCode);

        _app.Time.Advance(TimeSpan.FromMinutes(3));
        await Eventually.UntilAsync(async () => await _app.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE type = 'voice.session.ended'") > 0, "the end published");

        var payload = JsonDocument.Parse(await _app.ScalarAsync<string>("SELECT payload::text FROM outbox WHERE type = 'voice.session.ended'") ?? "{}").RootElement;
        Assert.Equal(1L, await _app.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE type = 'voice.session.ended'"));
        Assert.Equal("eve", payload.GetProperty("userId").GetString());
        Assert.Equal(id, payload.GetProperty("sessionId").GetString());
    }

    [Fact]
    public async Task A_spoken_question_yields_a_transcript_close_to_it_and_a_spoken_reply()
    {
        const string sentence = "hello how are you today";
        var id = await CreateSessionAsync("ada");
        await using var client = await VoiceClient.ConnectAsync(_app, id, "ada");

        await client.SendPcmAsync(await Speech.FliteAsync(sentence));

        var heard = await client.WaitForAsync(VoiceClient.Is("transcript", "user", final: true), "final user transcript");
        var wer = Speech.WordErrorRate(sentence, heard.GetProperty("text").GetString()!);
        output.WriteLine($"said: \"{sentence}\", heard: \"{heard.GetProperty("text").GetString()}\", WER {wer:P0}");
        Assert.True(wer < 0.5, $"word error rate {wer:P0}");
        var reply = await client.WaitForAsync(VoiceClient.Is("transcript", "assistant", final: true, turn: 1), "final reply transcript");
        Assert.False(string.IsNullOrWhiteSpace(reply.GetProperty("text").GetString()));
        await client.WaitForAsync(VoiceClient.Is("audio_end", turn: 1), "end of reply audio");
        await client.WaitForAsync(VoiceClient.Is("latency", turn: 1), "latency marks");
        Assert.True(Speech.HasSound(client.Audio), $"reply audio of {client.Audio.Length} bytes is silent");
        var seqs = client.Events.Where(e => e.TryGetProperty("seq", out _)).Select(e => e.GetProperty("seq").GetInt64()).ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
    }

    [Fact]
    public async Task Resuming_after_a_dropped_socket_replays_what_was_missed_and_does_not_repeat_a_turn()
    {
        var id = await CreateSessionAsync("bea");
        var first = await VoiceClient.ConnectAsync(_app, id, "bea");
        await first.SendTextAsync("hello there", "c-1");
        await first.WaitForAsync(VoiceClient.Is("transcript", "user", final: true, turn: 1), "user turn 1");
        var seenBeforeDrop = first.Events.First(VoiceClient.Is("transcript", "user", final: true, turn: 1)).GetProperty("seq").GetInt64();
        first.Abort();
        await first.DisposeAsync();

        await using var second = await VoiceClient.ConnectAsync(_app, id, "bea", lastSeq: seenBeforeDrop);
        await second.WaitForAsync(VoiceClient.Is("transcript", "assistant", final: true, turn: 1), "turn 1's reply, replayed or live");
        await second.SendTextAsync("hello there", "c-1");
        await second.SendTextAsync("what is your name", "c-2");
        await second.WaitForAsync(VoiceClient.Is("transcript", "assistant", final: true, turn: 2), "turn 2's reply");

        var history = await _app.Services.GetRequiredService<SessionStore>().HistoryAsync(id, 20);
        Assert.Equal(["user:1", "assistant:1", "user:2", "assistant:2"], history.Select(h => $"{h.Role}:{h.Turn}"));
        Assert.DoesNotContain(second.Events, e => e.TryGetProperty("seq", out var s) && s.GetInt64() <= seenBeforeDrop);
        Assert.Single(second.Events, e => VoiceClient.Is("transcript", "user", final: true, turn: 2)(e));
        Assert.DoesNotContain(second.Events, e => VoiceClient.Is("transcript", "user", final: true, turn: 3)(e));
    }

    [Fact]
    public async Task Switching_the_tts_chain_off_moves_the_session_to_text_and_the_answer_still_arrives_then_voice_returns()
    {
        var id = await CreateSessionAsync("cy");
        using var ops = _app.ClientFor("olivia", ops: true);
        await using var client = await VoiceClient.ConnectAsync(_app, id, "cy");

        (await ops.PutAsJsonAsync("/ops/chaos", new { provider = "espeak", outage = true })).EnsureSuccessStatusCode();
        // A sentence no other test made: a cached clip would (rightly) still be served with the provider down.
        await client.SendTextAsync($"my lucky number is {Guid.NewGuid().ToString()[..6]}", "t-1");

        var mode = await client.WaitForAsync(VoiceClient.Is("mode"), "mode event");
        Assert.Equal("text", mode.GetProperty("mode").GetString());
        var reply = await client.WaitForAsync(VoiceClient.Is("transcript", "assistant", final: true, turn: 1), "reply in text");
        Assert.Contains("lucky number", reply.GetProperty("text").GetString());
        Assert.Empty(client.Audio);

        (await ops.PutAsJsonAsync("/ops/chaos", new { reset = true })).EnsureSuccessStatusCode();
        await client.SendTextAsync("thank you", "t-2");
        await client.WaitForAsync(e => VoiceClient.Is("mode")(e) && e.GetProperty("mode").GetString() == "voice", "back to voice");
        await client.WaitForAsync(VoiceClient.Is("audio_end", turn: 2), "reply audio after recovery");
        Assert.True(Speech.HasSound(client.Audio));
    }

    [Fact]
    public async Task Speaking_over_the_reply_cancels_its_audio_with_a_barge_in_event()
    {
        var id = await CreateSessionAsync("dan");
        await using var client = await VoiceClient.ConnectAsync(_app, id, "dan");
        await client.SendTextAsync("can you help me plan a long trip across the country with many stops", "b-1");
        await client.WaitForAsync(VoiceClient.Is("audio_start", turn: 1), "reply audio starting");

        await client.SendPcmAsync(await Speech.FliteAsync("wait a moment please"));

        var barge = await client.WaitForAsync(VoiceClient.Is("barge_in"), "barge-in");
        Assert.Equal(1, barge.GetProperty("turn").GetInt32());
        await client.WaitForAsync(VoiceClient.Is("transcript", "assistant", final: true, turn: 1), "the interrupted reply's text");
    }

    [Fact]
    public async Task Another_users_session_is_not_found()
    {
        var id = await CreateSessionAsync("eve");
        using var mallory = _app.ClientFor("mallory");

        var get = await mallory.GetAsync($"/voice/sessions/{id}");
        var message = await mallory.PostAsJsonAsync($"/voice/sessions/{id}/messages", new { text = "hi" });
        var socket = await Assert.ThrowsAnyAsync<Exception>(() => VoiceClient.ConnectAsync(_app, id, "mallory"));

        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, message.StatusCode);
        Assert.Contains("404", socket.Message);
    }

    [Fact]
    public async Task Tts_returns_a_wav_with_sound_and_a_second_call_is_a_cache_hit()
    {
        using var media = _app.ClientFor("user-42");
        var request = new { voiceId = "en-GB-male-1", text = "Your onboarding video is ready." };

        var first = await media.PostAsJsonAsync("/tts", request);
        var wav = await first.Content.ReadAsByteArrayAsync();
        var second = await media.PostAsJsonAsync("/tts", request);
        var again = await second.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("audio/wav", first.Content.Headers.ContentType?.MediaType);
        Assert.Equal("RIFF"u8.ToArray(), wav[..4]);
        Assert.Equal("WAVE"u8.ToArray(), wav[8..12]);
        Assert.Equal(16000, BitConverter.ToInt32(wav, 24));
        Assert.True(Speech.HasSound(wav[44..]));
        Assert.Equal("miss", first.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.Equal("hit", second.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.Equal(wav[44..], again[44..]);
    }

    [Fact]
    public async Task A_clip_cached_by_another_instance_is_served_from_the_shared_cache()
    {
        await using var other = new VoiceApp(servers, new Dictionary<string, string?> { ["Voice:Tts:WarmAtStart"] = "false" });
        await other.StartAsync();
        var request = new { voiceId = "en-AU-female-1", text = $"Shared clip {Guid.NewGuid():N}." };
        using var a = other.ClientFor("ada");
        using var b = _app.ClientFor("ada");

        var first = await a.PostAsJsonAsync("/tts", request);
        var wav = await first.Content.ReadAsByteArrayAsync();
        var second = await b.PostAsJsonAsync("/tts", request);
        var again = await second.Content.ReadAsByteArrayAsync();

        Assert.Equal("miss", first.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.Equal("hit", second.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.Equal(wav[44..], again[44..]);
    }

    [Fact]
    public async Task The_demo_page_and_its_scripts_are_served_without_a_token()
    {
        using var anonymous = _app.CreateClient();

        var page = await anonymous.GetAsync("/voice/demo");
        var script = await anonymous.GetAsync("/voice/demo/demo.js");
        var worklet = await anonymous.GetAsync("/voice/demo/pcm-worklet.js");

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("/voice/demo/demo.js", await page.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Contains("/voice/sessions", await script.Content.ReadAsStringAsync());
        Assert.Contains("registerProcessor", await worklet.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Tts_refuses_empty_or_too_long_text_and_unknown_voices()
    {
        using var client = _app.ClientFor("ada");

        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsJsonAsync("/tts", new { voiceId = "en-GB-male-1", text = "" })).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsJsonAsync("/tts", new { voiceId = "en-GB-male-1", text = new string('a', 2001) })).StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await client.PostAsJsonAsync("/tts", new { voiceId = "xx-XX-male-9", text = "hi" })).StatusCode);
    }
}
