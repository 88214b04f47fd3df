using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>
/// Narration through Voice's <c>POST /tts</c> (a <see cref="FakeVoice"/> answering a 1 kHz tone in Voice's streamed WAV
/// format) when it answers, and espeak-ng in Media when it fails or stalls: the video ships with speech either way.
/// </summary>
[Collection(VideoServersCollection.Name)]
public sealed class NarrationVoiceTests(MediaServers servers) : IAsyncLifetime
{
    private readonly string _user = "narr-" + Guid.NewGuid().ToString("N")[..8];
    private FakeVoice _voice = null!;
    private NarrationApp _app = null!;

    public async Task InitializeAsync()
    {
        _voice = await FakeVoice.StartAsync();
        _app = new NarrationApp(servers.Servers, _voice.BaseUrl);
        await _app.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        await _voice.DisposeAsync();
    }

    [Fact]
    public async Task Narration_comes_from_Voice_when_it_answers()
    {
        _voice.Mode = FakeVoice.Behaviour.Answer;

        var videos = await RenderAsync();

        Assert.NotEmpty(_voice.Requests);
        Assert.All(_voice.Requests, r => Assert.True(r.Authorized));
        Assert.All(_voice.Requests, r => Assert.Equal("es-ES-female-1", r.VoiceId));
        Assert.Contains(_voice.Requests, r => r.Text == "Hola Lucía, te damos la bienvenida a Sunaiva.");
        foreach (var (video, tone, volume) in videos)
        {
            Assert.Equal("ready", video.GetProperty("status").GetString());
            Assert.Equal("speech", video.GetProperty("narration").GetString());
            Assert.True(tone.Share > 0.8, $"the narration is not Voice's audio: {tone.Share:0.00} of the voiced blocks' energy at 1 kHz");
            Assert.True(volume > -40, $"the narration track is silent ({volume} dB)");
        }
    }

    [Theory]
    [InlineData(FakeVoice.Behaviour.Fail)]
    [InlineData(FakeVoice.Behaviour.Stall)]
    public async Task When_Voice_fails_or_stalls_espeak_narrates_and_the_video_ships_with_speech(FakeVoice.Behaviour behaviour)
    {
        _voice.Mode = behaviour;

        var videos = await RenderAsync();

        Assert.NotEmpty(_voice.Requests);
        foreach (var (video, tone, volume) in videos)
        {
            Assert.Equal("ready", video.GetProperty("status").GetString());
            Assert.Equal("speech", video.GetProperty("narration").GetString());
            Assert.False(video.GetProperty("captionsBurnedIn").GetBoolean());
            Assert.True(tone.Share < 0.3, $"the narration looks like Voice's tone ({tone.Share:0.00}), not espeak's speech");
            Assert.True(tone.VoicedBlocks > 100, $"only {tone.VoicedBlocks} voiced 100 ms blocks: hardly any speech");
            Assert.True(volume > -40, $"the narration track is silent ({volume} dB)");
        }
    }

    private async Task<List<(JsonElement Video, (double Share, int VoicedBlocks) Tone, double Volume)>> RenderAsync()
    {
        using var client = _app.ClientFor(_user);
        var accepted = await client.PostAsJsonAsync("/videos/onboarding", new { style = "minimal", name = "Lucía", language = "es", voice = "es-ES-female-1" });
        accepted.EnsureSuccessStatusCode();
        var ids = (await accepted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("videos").EnumerateArray().Select(v => v.GetProperty("id").GetString()!).ToList();
        var result = new List<(JsonElement, (double, int), double)>();
        using var raw = new HttpClient();
        foreach (var id in ids)
        {
            var video = await Eventually.Get(() => client.GetFromJsonAsync<JsonElement>($"/videos/{id}"), v => v.GetProperty("status").GetString() is "ready" or "failed", 180);
            if (video.GetProperty("status").GetString() != "ready")
            {
                result.Add((video, (0, 0), -91));
                continue;
            }

            var path = Path.Combine(Path.GetTempPath(), $"{id}.mp4");
            await File.WriteAllBytesAsync(path, await raw.GetByteArrayAsync(video.GetProperty("videoUrl").GetString()));
            try
            {
                result.Add((video, await VideoProbe.ToneShareAsync(path, FakeVoice.ToneHz), await VideoProbe.MeanVolumeAsync(path)));
            }
            finally
            {
                File.Delete(path);
            }
        }

        return result;
    }

    /// <summary>Media with Voice's base URL pointing at the fake, on the real clock (a stalled call must really time out).</summary>
    private sealed class NarrationApp(LocalServers servers, Uri voice) : ServiceApp<Program>(servers, ResourceNames.MediaDb)
    {
        protected override void AddSettings(IDictionary<string, string?> values)
        {
            values[$"ConnectionStrings:{ResourceNames.Storage}"] = Servers.StorageConnectionString;
            values["Videos:VoiceBaseUrl"] = voice.ToString();
            DraftVideos.AddTo(values, voice: true);
            // A stalled Voice costs each sentence this long before espeak-ng speaks it.
            values["Integration:Capabilities:tts:LatencyBudget"] = "00:00:00.500";
        }

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureTestServices(services => services.AddSingleton(TimeProvider.System));
        }
    }
}
