using System.Buffers.Binary;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Sunaiva.Media.Tests;

/// <summary>
/// Stands in for Voice's <c>POST /tts</c> (Sunaiva.Voice/Tts/TtsApi.cs): the same body (<c>{ voiceId, text }</c>, bearer
/// token required) and the same answer, audio/wav streamed as 16-bit mono 16 kHz PCM behind a header whose sizes are
/// unknown (0xFFFFFFFF), in chunks. Instead of speech it answers a pure <see cref="ToneHz"/> tone, so the narration
/// track shows whether Voice spoke. Modes: answer, fail (503 + Retry-After like Voice with no adapter left), stall.
/// </summary>
public sealed class FakeVoice : IAsyncDisposable
{
    public const int SampleRate = 16000;
    public const double ToneHz = 1000;

    private readonly WebApplication _app;

    private FakeVoice(WebApplication app) => _app = app;

    public enum Behaviour
    {
        Answer,
        Fail,
        Stall,
    }

    public Behaviour Mode { get; set; } = Behaviour.Answer;

    public ConcurrentQueue<(string? VoiceId, string? Text, bool Authorized)> Requests { get; } = new();

    public Uri BaseUrl => new(_app.Urls.First());

    public static async Task<FakeVoice> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeVoice(app);
        app.MapPost("/tts", fake.SpeakAsync);
        await app.StartAsync();
        return fake;
    }

    private async Task SpeakAsync(HttpContext http)
    {
        var body = await http.Request.ReadFromJsonAsync<TtsBody>(http.RequestAborted);
        var authorized = http.Request.Headers.Authorization.ToString().StartsWith("Bearer ey", StringComparison.Ordinal);
        Requests.Enqueue((body?.VoiceId, body?.Text, authorized));
        if (!authorized)
        {
            http.Response.StatusCode = 401;
            return;
        }

        switch (Mode)
        {
            case Behaviour.Fail:
                http.Response.StatusCode = 503;
                http.Response.Headers.RetryAfter = "5";
                await http.Response.WriteAsJsonAsync(new { type = "about:blank", title = "Speech synthesis produced no audio", status = 503 }, http.RequestAborted);
                return;
            case Behaviour.Stall:
                await Task.Delay(Timeout.Infinite, http.RequestAborted);
                return;
        }

        http.Response.ContentType = "audio/wav";
        http.Response.Headers["Sunaiva-Tts-Cache"] = "miss";
        await http.Response.Body.WriteAsync(WavHeader(), http.RequestAborted);
        // About as long as speech of the text (65 ms a character), sent in 100 ms chunks as Voice streams them.
        var samples = (int)((body?.Text?.Length ?? 1) * 0.065 * SampleRate);
        var chunk = new byte[SampleRate / 10 * 2];
        for (var offset = 0; offset < samples; offset += SampleRate / 10)
        {
            var count = Math.Min(SampleRate / 10, samples - offset);
            for (var i = 0; i < count; i++)
            {
                var value = (short)(0.5 * short.MaxValue * Math.Sin(2 * Math.PI * ToneHz * (offset + i) / SampleRate));
                BinaryPrimitives.WriteInt16LittleEndian(chunk.AsSpan(i * 2), value);
            }

            await http.Response.Body.WriteAsync(chunk.AsMemory(0, count * 2), http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }
    }

    /// <summary>Voice's streamed header (TtsFormat.WavHeader(null)): RIFF and data sizes unknown.</summary>
    private static byte[] WavHeader()
    {
        var header = new byte[44];
        var span = header.AsSpan();
        "RIFF"u8.CopyTo(span);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], uint.MaxValue);
        "WAVEfmt "u8.CopyTo(span[8..]);
        BinaryPrimitives.WriteUInt32LittleEndian(span[16..], 16);
        BinaryPrimitives.WriteUInt16LittleEndian(span[20..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(span[22..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(span[24..], SampleRate);
        BinaryPrimitives.WriteUInt32LittleEndian(span[28..], SampleRate * 2);
        BinaryPrimitives.WriteUInt16LittleEndian(span[32..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(span[34..], 16);
        "data"u8.CopyTo(span[36..]);
        BinaryPrimitives.WriteUInt32LittleEndian(span[40..], uint.MaxValue - 36);
        return header;
    }

    private sealed record TtsBody(string? VoiceId, string? Text);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
