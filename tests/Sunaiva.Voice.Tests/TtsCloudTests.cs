using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Testing;

namespace Sunaiva.Voice.Tests;

/// <summary>The cloud voices of the tts chain against fake OpenAI and ElevenLabs servers: used when configured, espeak-ng when they fail.</summary>
[Collection(ServersCollection.Name)]
public sealed class TtsCloudTests(LocalServers servers) : IAsyncLifetime
{
    private const string OpenAIKey = "sk-test-tts";
    private const string ElevenLabsKey = "xi-test-key";
    private FakeCloudTts _cloud = null!;

    public async Task InitializeAsync() => _cloud = await FakeCloudTts.StartAsync();

    public async Task DisposeAsync() => await _cloud.DisposeAsync();

    private VoiceApp App(bool openAi = true, bool elevenLabs = false, params (string Key, string? Value)[] more)
    {
        var settings = new Dictionary<string, string?> { ["Voice:Tts:WarmAtStart"] = "false" };
        if (openAi)
        {
            settings["Voice:Tts:OpenAI:ApiKey"] = OpenAIKey;
            settings["Voice:Tts:OpenAI:BaseUrl"] = _cloud.BaseUrl;
        }

        if (elevenLabs)
        {
            settings["Voice:Tts:ElevenLabs:ApiKey"] = ElevenLabsKey;
            settings["Voice:Tts:ElevenLabs:BaseUrl"] = _cloud.BaseUrl;
        }

        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return new VoiceApp(servers, settings);
    }

    private static string Unique(string text) => $"{text} {Guid.NewGuid().ToString()[..6]}.";

    [Fact]
    public async Task The_openai_voice_speaks_when_configured_and_its_characters_are_metered_at_the_dated_price()
    {
        await using var app = App();
        await app.StartAsync();
        using var client = app.ClientFor("ada");
        var text = Unique("Welcome back, how was your day");

        var response = await client.PostAsJsonAsync("/tts", new { voiceId = "en-US-female-1", text });
        var wav = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("openai-tts", response.Headers.GetValues("Sunaiva-Tts-Provider").Single());
        Assert.False(response.Headers.Contains("Sunaiva-Degraded"));
        // 0.5 s of 24 kHz tone resampled to 16 kHz: 8000 samples (the resampler's filter holds back a few).
        Assert.InRange((wav.Length - 44) / 2, 7800, 8000);
        Assert.True(Speech.HasSound(wav[44..]));
        var (path, headers, body) = Assert.Single(_cloud.Requests);
        Assert.Equal("/v1/audio/speech", path);
        Assert.Equal($"Bearer {OpenAIKey}", headers.Authorization.ToString());
        Assert.Equal("gpt-4o-mini-tts", body["model"]!.GetValue<string>());
        Assert.Equal("coral", body["voice"]!.GetValue<string>());
        Assert.Equal("pcm", body["response_format"]!.GetValue<string>());
        Assert.Equal(text, body["input"]!.GetValue<string>());

        var cost = await Eventually.Get(
            () => app.ScalarAsync<decimal?>("SELECT sum(cost_usd) FROM usage_ledger WHERE provider = 'openai-tts' AND outcome = 'ok' AND units = @units", ("units", (decimal)text.Length)),
            c => c is not null);
        Assert.Equal(text.Length * 0.0000167m, cost);
    }

    [Fact]
    public async Task The_elevenlabs_voice_streams_pcm_16000_with_its_voice_id_and_xi_api_key()
    {
        await using var app = App(openAi: false, elevenLabs: true);
        await app.StartAsync();
        using var client = app.ClientFor("ada");

        var text = Unique("Good morning");
        var response = await client.PostAsJsonAsync("/tts", new { voiceId = "en-US-female-1", text });
        var wav = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("elevenlabs", response.Headers.GetValues("Sunaiva-Tts-Provider").Single());
        Assert.Equal(_cloud.Tone(16000), wav[44..]);
        var (path, headers, body) = Assert.Single(_cloud.Requests);
        Assert.Equal("/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream", path);
        Assert.Equal(ElevenLabsKey, headers["xi-api-key"].ToString());
        Assert.Equal("eleven_flash_v2_5", body["model_id"]!.GetValue<string>());
        var cost = await Eventually.Get(
            () => app.ScalarAsync<decimal?>("SELECT sum(cost_usd) FROM usage_ledger WHERE provider = 'elevenlabs' AND outcome = 'ok'"),
            c => c is not null);
        Assert.Equal(text.Length * 0.00015m, cost);
    }

    [Theory]
    [InlineData(CloudBehaviour.ServerError)]
    [InlineData(CloudBehaviour.Throttled)]
    [InlineData(CloudBehaviour.Unauthorized)]
    public async Task A_failing_cloud_voice_falls_back_to_espeak_and_the_audio_still_arrives(CloudBehaviour failure)
    {
        await using var app = App();
        await app.StartAsync();
        using var client = app.ClientFor("ada");
        _cloud.Behaviour = failure;

        var response = await client.PostAsJsonAsync("/tts", new { voiceId = "en-GB-male-1", text = Unique("Let us carry on") });
        var wav = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("espeak", response.Headers.GetValues("Sunaiva-Tts-Provider").Single());
        Assert.Equal("espeak", response.Headers.GetValues("Sunaiva-Degraded").Single());
        Assert.True(Speech.HasSound(wav[44..]));
        Assert.Single(_cloud.Requests);
        var outcome = await Eventually.Get(
            () => app.ScalarAsync<string?>("SELECT outcome FROM usage_ledger WHERE provider = 'openai-tts' LIMIT 1"),
            o => o is not null);
        Assert.Equal(failure == CloudBehaviour.Throttled ? "throttled" : "error", outcome);
    }

    [Fact]
    public async Task A_stalled_cloud_voice_is_given_up_at_the_first_chunk_deadline_and_espeak_speaks()
    {
        await using var app = App();
        await app.StartAsync();
        using var client = app.ClientFor("ada");
        _cloud.Behaviour = CloudBehaviour.Stall;

        var call = client.PostAsJsonAsync("/tts", new { voiceId = "en-GB-male-1", text = Unique("Still there") });
        await AdvanceWhileStalledAsync(app, call);
        var response = await call;
        var wav = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("espeak", response.Headers.GetValues("Sunaiva-Tts-Provider").Single());
        Assert.True(Speech.HasSound(wav[44..]));
        var error = await Eventually.Get(
            () => app.ScalarAsync<string?>("SELECT error FROM usage_ledger WHERE provider = 'openai-tts' LIMIT 1"),
            e => e is not null);
        Assert.Equal("first-chunk deadline", error);
    }

    [Fact]
    public async Task A_session_whose_cloud_voice_stalls_keeps_speaking_with_espeak_and_never_falls_to_text()
    {
        await using var app = App();
        await app.StartAsync();
        using var http = app.ClientFor("cy");
        var created = await (await http.PostAsJsonAsync("/voice/sessions", new { voiceId = "en-US-female-1", mode = "auto" })).Content.ReadFromJsonAsync<JsonElement>();
        await using var session = await VoiceClient.ConnectAsync(app, created.GetProperty("id").GetString()!, "cy");
        _cloud.Behaviour = CloudBehaviour.Stall;

        await session.SendTextAsync($"my lucky number is {Guid.NewGuid().ToString()[..6]}", "s-1");
        var done = session.WaitForAsync(VoiceClient.Is("audio_end", turn: 1), "reply audio from espeak");
        await AdvanceWhileStalledAsync(app, done);
        await done;

        Assert.True(_cloud.Stalled > 0);
        Assert.True(Speech.HasSound(session.Audio));
        Assert.DoesNotContain(session.Events, e => VoiceClient.Is("mode")(e));
        Assert.DoesNotContain(session.Events, e => VoiceClient.Is("error")(e));
    }

    [Fact]
    public async Task A_cache_hit_of_a_cloud_clip_meters_the_cost_it_saved()
    {
        await using var app = App();
        await app.StartAsync();
        using var client = app.ClientFor("ada");
        var request = new { voiceId = "en-US-male-1", text = Unique("See you tomorrow") };

        var first = await client.PostAsJsonAsync("/tts", request);
        await first.Content.ReadAsByteArrayAsync();
        var second = await client.PostAsJsonAsync("/tts", request);
        await second.Content.ReadAsByteArrayAsync();

        Assert.Equal("hit", second.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.Equal("openai-tts", second.Headers.GetValues("Sunaiva-Tts-Provider").Single());
        Assert.Single(_cloud.Requests);
        var saved = await Eventually.Get(
            () => app.ScalarAsync<decimal?>("SELECT sum(saved_usd) FROM cache_ledger WHERE capability = 'tts' AND provider = 'openai-tts' AND hit"),
            s => s is not null);
        Assert.Equal(request.text.Length * 0.0000167m, saved);
        using var ops = app.ClientFor("olivia", ops: true);
        app.Time.Advance(TimeSpan.FromSeconds(1)); // the summary's window ends before "now"; the rows were written at it
        var summary = await ops.GetFromJsonAsync<JsonElement>("/ops/usage/summary?window=1h");
        Assert.True(summary.GetProperty("cache").GetProperty("hits").GetInt64() >= 1);
        Assert.True(summary.GetProperty("cache").GetProperty("savedUsd").GetDecimal() >= saved);
        var status = await ops.GetFromJsonAsync<JsonElement>("/ops/status");
        var cache = status.GetProperty("dependencies").EnumerateArray().Single(d => d.GetProperty("name").GetString() == "tts-cache");
        Assert.Equal("healthy", cache.GetProperty("state").GetString());
        Assert.Contains("hit rate 50.0% (1 hits, 1 misses)", cache.GetProperty("detail").GetString());
        Assert.Contains($"${saved:0.######} saved", cache.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_clip_spoken_by_espeak_while_the_cloud_was_down_is_replaced_by_the_cloud_voice_once_it_is_back()
    {
        await using var app = App(more: ("Voice:Tts:DegradedCacheExpiration", "00:00:00"));
        await app.StartAsync();
        using var client = app.ClientFor("ada");
        var request = new { voiceId = "en-US-male-1", text = Unique("Back online") };
        _cloud.Behaviour = CloudBehaviour.ServerError;
        var degraded = await client.PostAsJsonAsync("/tts", request);
        await degraded.Content.ReadAsByteArrayAsync();

        _cloud.Behaviour = CloudBehaviour.Speak;
        var recovered = await client.PostAsJsonAsync("/tts", request);
        await recovered.Content.ReadAsByteArrayAsync();

        Assert.Equal("espeak", degraded.Headers.GetValues("Sunaiva-Tts-Provider").Single());
        Assert.Equal("miss", recovered.Headers.GetValues("Sunaiva-Tts-Cache").Single());
        Assert.Equal("openai-tts", recovered.Headers.GetValues("Sunaiva-Tts-Provider").Single());
    }

    [Fact]
    public async Task The_start_warm_up_goes_through_the_cloud_voice_within_its_character_budget()
    {
        await using var app = App(more:
        [
            ("Voice:Tts:WarmAtStart", "true"),
            ("Voice:Tts:WarmCloudCharacters", "100"),
            ("Voice:Tts:WarmPhrases:0", Unique("Hello there")),
            ("Voice:Tts:WarmPhrases:1", Unique("One moment")),
            ("Voice:Tts:WarmPhrases:2", Unique("Sorry, say again")),
            ("Voice:Tts:WarmPhrases:3", Unique("Let us continue in text")),
        ]);
        await app.StartAsync();
        var warmup = app.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().OfType<Sunaiva.Voice.Tts.TtsWarmup>().Single();
        await warmup.Warmed.WaitAsync(TimeSpan.FromMinutes(2));

        var sent = _cloud.Requests.Sum(r => r.Body["input"]!.GetValue<string>().Length);
        Assert.InRange(sent, 1, 100);
        Assert.All(_cloud.Requests, r => Assert.Equal("/v1/audio/speech", r.Path));
        Assert.Equal(_cloud.Requests.Count, warmup.WarmedClips);
    }

    // The chain keeps its first-chunk deadline on the app's fake clock: move it on while the fake holds a request open.
    private async Task AdvanceWhileStalledAsync(VoiceApp app, Task until)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!until.IsCompleted && DateTime.UtcNow < deadline)
        {
            if (_cloud.PendingStalls > 0)
            {
                app.Time.Advance(TimeSpan.FromMilliseconds(500));
            }

            await Task.Delay(50);
        }
    }
}
