using System.Net.Http.Json;
using System.Text.Json;
using Sunaiva.Media.Videos;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>Scripts, captions and narration in the profile's language (templates in Videos/Scripts/*.json), English for the rest.</summary>
[Collection(VideoServersCollection.Name)]
public sealed class ScriptLanguageTests(MediaServers servers) : IAsyncLifetime
{
    private readonly MediaApp _app = new(servers.Servers, DraftVideos.Settings());

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public void Each_language_of_the_voice_catalog_has_the_three_scripts_chosen_by_language_then_voice_region_then_English()
    {
        var spanish = ScriptTemplates.Build(VideoKinds.Welcome, VideoProfile.From("Lucía", ["Aprender inglés"], "es-MX", null), EspeakNarrationTts.DisplayName);
        var hindiByVoice = ScriptTemplates.Build(VideoKinds.Welcome, VideoProfile.From("आरव", [], "en", "hi-IN-male-1"), EspeakNarrationTts.DisplayName);
        var japanese = ScriptTemplates.Build(VideoKinds.Welcome, VideoProfile.From("さくら", [], "ja", "ja-JP-female-1"), EspeakNarrationTts.DisplayName);
        var nameless = ScriptTemplates.Build(VideoKinds.VoiceTour, VideoProfile.From(null, [], "es", null), null);

        Assert.Superset(new HashSet<string> { "en", "es", "fr", "de", "pt", "it", "hi" }, ScriptTemplates.Languages.ToHashSet());
        foreach (var language in new[] { "es", "fr", "de", "pt", "it", "hi" })
        {
            foreach (var kind in VideoKinds.All)
            {
                var script = ScriptTemplates.Build(kind, VideoProfile.From("Kim", ["Plan"], language, null), null);
                Assert.Equal(language, script.Language);
                Assert.Equal(6, script.Scenes.Count);
                Assert.DoesNotContain(script.Sentences, s => s.Contains('{', StringComparison.Ordinal));
                Assert.StartsWith(language, script.Voice, StringComparison.Ordinal);
            }
        }

        Assert.Equal("es", spanish.Language);
        Assert.Equal("es-ES-female-1", spanish.Voice);
        Assert.Equal("Hola Lucía, te damos la bienvenida a Sunaiva.", spanish.Sentences.First());
        Assert.Contains("Nos contaste que quieres aprender inglés.", spanish.Sentences);
        Assert.Equal("hi", hindiByVoice.Language);
        Assert.Equal("hi-IN-male-1", hindiByVoice.Voice);
        Assert.Equal("नमस्ते आरव, सुनैवा में आपका स्वागत है।", hindiByVoice.Sentences.First());
        Assert.Contains(hindiByVoice.Sentences, s => s.Contains("Aarav", StringComparison.Ordinal));
        Assert.Equal("en", japanese.Language);
        Assert.Equal("en-US-female-1", japanese.Voice);
        Assert.Equal("Hi さくら, welcome to Sunaiva.", japanese.Sentences.First());
        Assert.Equal("Hablemos de hablar.", nameless.Sentences.First());
    }

    [Fact]
    public void A_placeholder_typed_as_a_name_is_kept_as_text()
    {
        var script = ScriptTemplates.Build(VideoKinds.Welcome, VideoProfile.From("{goals}", ["Learn"], "en", null), null);

        Assert.Equal("Hi {goals}, welcome to Sunaiva.", script.Sentences.First());
    }

    [Fact]
    public async Task A_Spanish_and_a_Hindi_profile_get_videos_with_captions_and_narration_in_their_language()
    {
        var lucia = "es-" + Guid.NewGuid().ToString("N")[..8];
        var aarav = "hi-" + Guid.NewGuid().ToString("N")[..8];
        using var es = _app.ClientFor(lucia);
        using var hi = _app.ClientFor(aarav);
        var spanish = await WelcomeIdAsync(es, new { style = "minimal", name = "Lucía", language = "es", goals = new[] { "Aprender inglés" } });
        var hindi = await WelcomeIdAsync(hi, new { style = "minimal", name = "आरव", language = "hi", voice = "hi-IN-female-2" });

        var spanishVideo = await WaitReadyAsync(es, spanish);
        var hindiVideo = await WaitReadyAsync(hi, hindi);

        using var raw = new HttpClient();
        var spanishVtt = await raw.GetStringAsync(spanishVideo.GetProperty("captionsUrl").GetString());
        var hindiVtt = await raw.GetStringAsync(hindiVideo.GetProperty("captionsUrl").GetString());
        Assert.Contains("Hola Lucía, te damos la bienvenida a Sunaiva.", spanishVtt, StringComparison.Ordinal);
        Assert.Contains("Nos contaste que quieres aprender inglés.", spanishVtt, StringComparison.Ordinal);
        Assert.Contains("नमस्ते आरव, सुनैवा में आपका स्वागत है।", hindiVtt, StringComparison.Ordinal);
        Assert.Contains("Meera", hindiVtt, StringComparison.Ordinal);
        Assert.DoesNotContain("welcome", hindiVtt, StringComparison.OrdinalIgnoreCase);
        foreach (var video in new[] { spanishVideo, hindiVideo })
        {
            Assert.Equal("speech", video.GetProperty("narration").GetString());
            var path = Path.Combine(Path.GetTempPath(), $"{video.GetProperty("id").GetString()}.mp4");
            await File.WriteAllBytesAsync(path, await raw.GetByteArrayAsync(video.GetProperty("videoUrl").GetString()));
            try
            {
                Assert.True(await VideoProbe.MeanVolumeAsync(path) > -40, "the narration track is silent");
            }
            finally
            {
                File.Delete(path);
            }
        }
    }

    private static async Task<string> WelcomeIdAsync(HttpClient client, object request)
    {
        var accepted = await client.PostAsJsonAsync("/videos/onboarding", request);
        accepted.EnsureSuccessStatusCode();
        var body = await accepted.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("videos").EnumerateArray().First(v => v.GetProperty("kind").GetString() == VideoKinds.Welcome).GetProperty("id").GetString()!;
    }

    private static Task<JsonElement> WaitReadyAsync(HttpClient client, string id) =>
        Eventually.Get(() => client.GetFromJsonAsync<JsonElement>($"/videos/{id}"), v => v.GetProperty("status").GetString() is "ready" or "failed", 180);
}
