using System.Diagnostics;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Auth;

namespace Sunaiva.Media.Videos;

/// <summary>Speech for narration (capability <c>tts</c> in Media): Voice's <c>POST /tts</c> first, espeak-ng in Media as its fallback.</summary>
public interface INarrationTts : IProviderAdapter
{
    /// <summary>One sentence as 16-bit mono PCM WAV.</summary>
    Task<byte[]> SynthesizeAsync(string text, string? voiceId, string userId, CancellationToken cancellationToken);
}

/// <summary>Voice's <c>POST /tts</c> through service discovery, called with a short-lived service token whose subject is the video's user.</summary>
public sealed class VoiceServiceTts(HttpClient http, IOptions<VideoOptions> options, IOptions<JwtOptions> jwt, IConfiguration configuration, TimeProvider time) : INarrationTts
{
    public const string HttpClientName = "voice-tts";

    public string Provider => "sunaiva-voice";

    /// <summary>
    /// Off when Voice is not wired (a Media run without the AppHost's reference, which sets <c>services:voice</c>):
    /// espeak-ng serves at once instead of every sentence waiting on a name that cannot resolve.
    /// </summary>
    public bool IsAvailable => options.Value.VoiceTtsEnabled && http.BaseAddress is not null
        && (!http.BaseAddress.Scheme.Contains('+', StringComparison.Ordinal) || configuration.GetSection($"services:{http.BaseAddress.Host}").Exists());

    public async Task<byte[]> SynthesizeAsync(string text, string? voiceId, string userId, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/tts")
        {
            Content = JsonContent.Create(new { voiceId = voiceId ?? options.Value.DefaultVoice, text }),
        };
        request.Headers.Authorization = new("Bearer", ServiceToken(userId));
        using var response = await http.SendAsync(request, cancellationToken);
        if ((int)response.StatusCode is >= 400 and < 500 and not 408 and not 429)
        {
            throw new PermanentFailureException(Provider, $"http {(int)response.StatusCode}");
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    private string ServiceToken(string userId) => VoiceServiceToken.For(jwt.Value, userId, time.GetUtcNow(), TimeSpan.FromMinutes(2));
}

/// <summary>espeak-ng in Media: the catalog voice mapped to an espeak voice (copied from Voice's catalog), text on stdin, WAV on stdout.</summary>
public sealed class EspeakNarrationTts(IOptions<VideoOptions> options, TimeProvider time) : INarrationTts
{
    private static readonly Dictionary<string, EspeakVoice> Voices = LoadVoices();

    public string Provider => "espeak";

    public static string? DisplayName(string? voiceId) => voiceId is not null && Voices.TryGetValue(voiceId, out var v) ? v.DisplayName : null;

    public async Task<byte[]> SynthesizeAsync(string text, string? voiceId, string userId, CancellationToken cancellationToken)
    {
        var voice = Voices.GetValueOrDefault(voiceId ?? options.Value.DefaultVoice) ?? Voices.GetValueOrDefault(options.Value.DefaultVoice);
        var start = new ProcessStartInfo(options.Value.EspeakPath)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("--stdout");
        start.ArgumentList.Add("-v");
        start.ArgumentList.Add(voice is null ? "en-us" : voice.Variant is null ? voice.Espeak : $"{voice.Espeak}+{voice.Variant}");
        start.ArgumentList.Add("-s");
        start.ArgumentList.Add((voice?.Rate ?? 170).ToString(System.Globalization.CultureInfo.InvariantCulture));
        start.ArgumentList.Add("-p");
        start.ArgumentList.Add((voice?.Pitch ?? 50).ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var process = Process.Start(start) ?? throw new InvalidOperationException("espeak-ng did not start");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20), time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            // Plain text on stdin (no -m): markup in user text is read out as characters, never interpreted.
            await process.StandardInput.WriteAsync(text.AsMemory(), linked.Token);
            process.StandardInput.Close();
            using var output = new MemoryStream();
            var errors = process.StandardError.ReadToEndAsync(linked.Token);
            await process.StandardOutput.BaseStream.CopyToAsync(output, linked.Token);
            await process.WaitForExitAsync(linked.Token);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"espeak-ng exited with {process.ExitCode}: {(await errors).Trim()}");
            }

            return output.ToArray();
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
    }

    private static Dictionary<string, EspeakVoice> LoadVoices()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("videos/espeak-voices.json")
            ?? throw new InvalidOperationException("Embedded resource videos/espeak-voices.json is missing.");
        var file = JsonSerializer.Deserialize<EspeakVoiceFile>(stream, Sunaiva.Contracts.EventJson.Options)!;
        return file.Voices.ToDictionary(v => v.Id, StringComparer.Ordinal);
    }

    private sealed record EspeakVoiceFile(IReadOnlyList<EspeakVoice> Voices);

    private sealed record EspeakVoice(string Id, string DisplayName, string Espeak, string? Variant, int Pitch, int Rate);
}
