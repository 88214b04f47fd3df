using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Sunaiva.Testing;

namespace Sunaiva.Voice.Tests;

[Collection(ServersCollection.Name)]
public sealed class TranscriptionsTests(LocalServers servers) : IAsyncLifetime
{
    private readonly VoiceApp _app = new(servers, new Dictionary<string, string?> { ["Voice:Tts:WarmAtStart"] = "false" });

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    internal static Task<byte[]> FliteWavAsync(string text) => Flite.WavAsync(text);

    [Fact]
    public async Task A_wav_file_is_transcribed_with_its_words_and_timings()
    {
        using var client = _app.ClientFor("media-service-user");
        using var body = new ByteArrayContent(await FliteWavAsync("hello world. please call me tomorrow morning."));
        body.Headers.ContentType = new MediaTypeHeaderValue("audio/wav");

        var response = await client.PostAsync("/transcriptions", body);
        var transcript = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("tomorrow", transcript.GetProperty("text").GetString(), StringComparison.Ordinal);
        var segments = transcript.GetProperty("segments").EnumerateArray().ToList();
        Assert.NotEmpty(segments);
        Assert.All(segments, s => Assert.True(s.GetProperty("end").GetDouble() > s.GetProperty("start").GetDouble()));
        Assert.True(transcript.GetProperty("durationSeconds").GetDouble() > 1);
    }

    [Fact]
    public async Task A_body_that_is_not_audio_is_415_and_an_anonymous_caller_401()
    {
        using var client = _app.ClientFor("media-service-user");
        using var anonymous = _app.CreateClient();

        var notAudio = await client.PostAsync("/transcriptions", new ByteArrayContent("this is not audio at all"u8.ToArray()));
        var noToken = await anonymous.PostAsync("/transcriptions", new ByteArrayContent([1, 2, 3]));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, notAudio.StatusCode);
        Assert.Equal("application/problem+json", notAudio.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Unauthorized, noToken.StatusCode);
    }
}
