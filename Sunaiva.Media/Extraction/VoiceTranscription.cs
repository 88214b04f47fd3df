using System.Net.Http.Json;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.Media.Files;
using Sunaiva.ServiceDefaults.Auth;

namespace Sunaiva.Media.Extraction;

/// <summary>Speech to text of audio files (capability <c>transcription</c>).</summary>
public interface ITranscriptionProvider : IProviderAdapter
{
    Task<string> TranscribeAsync(Stream audio, string contentType, string userId, CancellationToken cancellationToken);
}

/// <summary>Transcription was not possible now (Voice down, not wired, or its speech engine unavailable): try again later.</summary>
public sealed class TranscriptionUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Voice's <c>POST /transcriptions</c> (its local speech engine: ffmpeg to 16 kHz mono, pocketsphinx) through service
/// discovery, with a short-lived service token whose subject is the file's owner, as Media calls Voice's <c>POST /tts</c>.
/// </summary>
public sealed class VoiceServiceTranscriber(HttpClient http, IOptions<FileVaultOptions> options, IOptions<JwtOptions> jwt, IConfiguration configuration, TimeProvider time) : ITranscriptionProvider
{
    public const string HttpClientName = "voice-transcription";

    public const string ProviderName = "sunaiva-voice-transcription";

    public string Provider => ProviderName;

    /// <summary>Off when Voice is not wired (no <c>services:voice</c> from the AppHost) or transcription is switched off.</summary>
    public bool IsAvailable => options.Value.TranscriptionEnabled && http.BaseAddress is not null
        && (!http.BaseAddress.Scheme.Contains('+', StringComparison.Ordinal) || configuration.GetSection($"services:{http.BaseAddress.Host}").Exists());

    public async Task<string> TranscribeAsync(Stream audio, string contentType, string userId, CancellationToken cancellationToken)
    {
        using var content = new StreamContent(audio);
        content.Headers.ContentType = new(contentType);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/transcriptions") { Content = content };
        request.Headers.Authorization = new("Bearer", ServiceToken(userId));
        using var response = await http.SendAsync(request, cancellationToken);
        // Only an answer about this audio is final (not audio, too large, unreadable); 401/403/404 say Voice or our
        // configuration is not what it should be (a deploy in progress, a key being rotated): the retry outlives that.
        if ((int)response.StatusCode is 400 or 413 or 415 or 422)
        {
            throw new PermanentFailureException(Provider, $"http {(int)response.StatusCode}");
        }

        response.EnsureSuccessStatusCode();
        var transcript = await response.Content.ReadFromJsonAsync<VoiceTranscript>(cancellationToken);
        return transcript?.Text ?? string.Empty;
    }

    private string ServiceToken(string userId) => VoiceServiceToken.For(jwt.Value, userId, time.GetUtcNow(), TimeSpan.FromMinutes(15));

    private sealed record VoiceTranscript(string? Text);
}

/// <summary>Runs a transcription through the <c>transcription</c> chain (deadline, breaker, metered per audio file for the owner).</summary>
public sealed class AudioTranscription(ProviderChain<ITranscriptionProvider> chain)
{
    public const string Capability = "transcription";

    private static readonly ProviderOperation Transcribe = new("transcribe", Unit: "audio-files", Idempotent: true);

    /// <summary>Whether any transcriber is wired; without one, audio stays <c>awaiting_transcription</c>.</summary>
    public bool IsConfigured => chain.Adapters.Any(a => a.IsAvailable);

    /// <exception cref="TranscriptionUnavailableException">No transcriber answered (down, breaker open, deadline).</exception>
    public async Task<string> TranscribeAsync(Func<Stream> openAudio, string contentType, string userId, CancellationToken ct)
    {
        using var _ = MeteringContext.ForUser(userId);
        try
        {
            var result = await chain.ExecuteAsync(Transcribe, async (adapter, call, token) =>
            {
                await using var audio = openAudio();
                return await adapter.TranscribeAsync(audio, contentType, userId, token);
            }, ct);
            return result.Value;
        }
        catch (ProviderChainException ex)
        {
            throw new TranscriptionUnavailableException("no transcriber answered", ex);
        }
    }
}
