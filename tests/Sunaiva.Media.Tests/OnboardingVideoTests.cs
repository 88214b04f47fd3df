using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

[Collection(VideoServersCollection.Name)]
public sealed class OnboardingVideoTests(MediaServers servers) : IAsyncLifetime
{
    private readonly MediaApp _app = new(servers.Servers);
    private readonly string _ada = "ada-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _bob = "bob-" + Guid.NewGuid().ToString("N")[..8];

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task A_request_renders_three_real_mp4s_with_speech_captions_and_the_users_name()
    {
        using var ada = _app.ClientFor(_ada);
        var accepted = await ada.PostAsJsonAsync("/videos/onboarding", new { style = "vibrant", name = "Adaline", goals = new[] { "Learn Spanish", "Plan my week" }, voice = "en-GB-female-1" });
        var body = await accepted.Content.ReadFromJsonAsync<JsonElement>();
        var ids = body.GetProperty("videos").EnumerateArray().Select(v => v.GetProperty("id").GetString()!).ToList();

        var videos = await WaitReadyAsync(ada, ids);

        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal(["welcome", "voice-tour", "memory-vault"], body.GetProperty("videos").EnumerateArray().Select(v => v.GetProperty("kind").GetString()));
        using var raw = new HttpClient();
        foreach (var video in videos)
        {
            Assert.Equal("ready", video.GetProperty("status").GetString());
            Assert.Equal("ffmpeg", video.GetProperty("provider").GetString());
            Assert.Equal("speech", video.GetProperty("narration").GetString());
            Assert.False(video.GetProperty("captionsBurnedIn").GetBoolean());
            var mp4 = await raw.GetByteArrayAsync(video.GetProperty("videoUrl").GetString());
            var path = Path.Combine(Path.GetTempPath(), $"{video.GetProperty("id").GetString()}.mp4");
            await File.WriteAllBytesAsync(path, mp4);
            try
            {
                var probe = await VideoProbe.ProbeAsync(path);
                var streams = probe.GetProperty("streams").EnumerateArray().ToList();
                var v = streams.Single(s => s.GetProperty("codec_type").GetString() == "video");
                var a = streams.Single(s => s.GetProperty("codec_type").GetString() == "audio");
                var duration = double.Parse(probe.GetProperty("format").GetProperty("duration").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal("h264", v.GetProperty("codec_name").GetString());
                Assert.Equal(1280, v.GetProperty("width").GetInt32());
                Assert.Equal(720, v.GetProperty("height").GetInt32());
                Assert.Equal("aac", a.GetProperty("codec_name").GetString());
                Assert.InRange(duration, 30, 60.5);
                Assert.True(VideoProbe.MoovBeforeMdat(mp4), "moov atom after mdat: not fast start");
                Assert.True(await VideoProbe.MeanVolumeAsync(path) > -40, "the narration track is silent");
            }
            finally
            {
                File.Delete(path);
            }

            var captions = await raw.GetStringAsync(video.GetProperty("captionsUrl").GetString());
            Assert.StartsWith("WEBVTT", captions, StringComparison.Ordinal);
            var poster = await raw.GetByteArrayAsync(video.GetProperty("posterUrl").GetString());
            Assert.Equal(0xFF, poster[0]);
            Assert.Equal(0xD8, poster[1]);
        }

        var welcome = videos.Single(v => v.GetProperty("kind").GetString() == "welcome");
        var vtt = await raw.GetStringAsync(welcome.GetProperty("captionsUrl").GetString());
        Assert.Contains("Hi Adaline, welcome to Sunaiva.", vtt, StringComparison.Ordinal);
        Assert.Contains("learn Spanish and plan my week", vtt, StringComparison.Ordinal);
        var jobs = _app.Services.GetRequiredService<Sunaiva.Media.Videos.VideoJobs>();
        var script = jobs.Script("welcome", Sunaiva.Media.Videos.VideoProfile.From("Adaline", ["Learn Spanish", "Plan my week"], "en", "en-GB-female-1"));
        Assert.Equal(script.Sentences.Select(Sunaiva.Media.Videos.Captions.Escape), CueTexts(vtt));
        Assert.Equal(3L, await _app.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE type = 'video.ready' AND payload->>'userId' = @u", ("u", _ada)));
    }

    [Fact]
    public async Task The_same_style_again_renders_nothing_new_and_answers_the_same_ids()
    {
        using var ada = _app.ClientFor(_ada);
        var first = await (await ada.PostAsJsonAsync("/videos/onboarding", new { style = "minimal", name = "Ada" })).Content.ReadFromJsonAsync<JsonElement>();
        var second = await (await ada.PostAsJsonAsync("/videos/onboarding", new { style = "minimal" })).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(3, first.GetProperty("created").GetInt32());
        Assert.Equal(0, second.GetProperty("created").GetInt32());
        Assert.Equal(Ids(first), Ids(second));
        Assert.Equal(3L, await _app.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'video.render' AND payload = ANY(@ids)", ("ids", Ids(first).ToArray())));
    }

    [Fact]
    public async Task Another_users_video_status_and_links_are_404()
    {
        using var ada = _app.ClientFor(_ada);
        using var bob = _app.ClientFor(_bob);
        var body = await (await ada.PostAsJsonAsync("/videos/onboarding", new { style = "playful", name = "Ada" })).Content.ReadFromJsonAsync<JsonElement>();
        var id = Ids(body)[0];

        var read = await bob.GetAsync($"/videos/{id}");
        var list = await bob.GetFromJsonAsync<JsonElement[]>("/videos");

        Assert.Equal(HttpStatusCode.NotFound, read.StatusCode);
        Assert.Equal("application/problem+json", read.Content.Headers.ContentType?.MediaType);
        Assert.Empty(list!);
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync("/videos/vid_does_not_exist")).StatusCode);
    }

    [Fact]
    public async Task Unknown_style_a_10_kB_name_and_control_characters_are_refused_with_422()
    {
        using var ada = _app.ClientFor(_ada);

        var style = await ada.PostAsJsonAsync("/videos/onboarding", new { style = "neon" });
        var name = await ada.PostAsJsonAsync("/videos/onboarding", new { name = new string('x', 10 * 1024) });
        var control = await ada.PostAsJsonAsync("/videos/onboarding", new { goals = new[] { "learn\u0000 \u001b[31mred\u202e" } });

        Assert.All([style, name, control], r => Assert.Equal(HttpStatusCode.UnprocessableEntity, r.StatusCode));
        Assert.All([style, name, control], r => Assert.Equal("application/problem+json", r.Content.Headers.ContentType?.MediaType));
        Assert.Empty(await ada.GetFromJsonAsync<JsonElement[]>("/videos") ?? []);
    }

    [Fact]
    public void Markup_and_control_characters_from_signup_are_rendered_harmlessly_as_text()
    {
        var profile = Sunaiva.Media.Videos.VideoProfile.From("<b>Eve</b>\u0007\u202e" + new string('y', 10 * 1024), ["<script>alert(1)</script>", "--> WEBVTT\nNOTE"], "en", "<voice>");
        var script = Sunaiva.Media.Videos.ScriptTemplates.Build("welcome", profile, null);
        var vtt = Sunaiva.Media.Videos.Captions.ToWebVtt(script.Sentences.Select((s, i) => new Sunaiva.Media.Videos.Cue(i, i + 1, s, 0)).ToList());

        Assert.True(profile.Name!.Length <= Sunaiva.Media.Videos.VideoProfile.MaxNameLength + 1);
        Assert.DoesNotContain(profile.Name, c => char.IsControl(c) || c == '\u202e');
        Assert.Null(profile.Voice);
        Assert.DoesNotContain("<script>", vtt, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", vtt, StringComparison.Ordinal);
        Assert.Equal(1, vtt.Split('\n').Count(l => l.StartsWith("WEBVTT", StringComparison.Ordinal)));
        Assert.DoesNotContain(vtt.Split('\n'), l => l.Contains("-->", StringComparison.Ordinal) && !l.Contains(" --> ", StringComparison.Ordinal));
    }

    private async Task<List<JsonElement>> WaitReadyAsync(HttpClient client, IReadOnlyList<string> ids, int maxSeconds = 180)
    {
        var result = new List<JsonElement>();
        foreach (var id in ids)
        {
            result.Add(await Eventually.Get(() => client.GetFromJsonAsync<JsonElement>($"/videos/{id}"), v => v.GetProperty("status").GetString() is "ready" or "failed", maxSeconds));
        }

        return result;
    }

    private static List<string> Ids(JsonElement body) => body.GetProperty("videos").EnumerateArray().Select(v => v.GetProperty("id").GetString()!).ToList();

    private static List<string> CueTexts(string vtt) =>
        vtt.Replace("\r", string.Empty, StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(block => block.Split('\n')).Where(lines => lines.Length >= 3).Select(lines => string.Join('\n', lines.Skip(2))).ToList();
}
