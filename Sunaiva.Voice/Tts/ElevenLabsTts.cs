using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Sunaiva.Voice.Catalog;

namespace Sunaiva.Voice.Tts;

/// <summary>
/// ElevenLabs streaming speech: <c>POST /v1/text-to-speech/{voice_id}/stream?output_format=pcm_16000</c> with
/// <c>xi-api-key</c> and the catalog's ElevenLabs voice id; the body is raw PCM16 mono at the format's rate, read as it
/// arrives. 429 (<c>too_many_concurrent_requests</c> or <c>system_busy</c>) throttles the adapter; 401
/// (<c>invalid_api_key</c>, <c>quota_exceeded</c>), 5xx and stalls fail the attempt and the next adapter speaks.
/// </summary>
public sealed class ElevenLabsTts(IHttpClientFactory clients, IOptions<ElevenLabsTtsOptions> options) : ITtsAdapter
{
    public const string ProviderName = "elevenlabs";
    public const string HttpClientName = "elevenlabs";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public string Provider => ProviderName;

    public bool IsAvailable => options.Value.Configured;

    public string VoiceKey(VoiceEntry voice) => $"{options.Value.ModelId}:{voice.ElevenLabs}:{options.Value.OutputFormat}";

    public IAsyncEnumerable<ReadOnlyMemory<byte>> SynthesizeAsync(VoiceEntry voice, string text, SpeechStyle style, CancellationToken cancellationToken) =>
        CloudPcm.StreamAsync(clients.CreateClient(HttpClientName), () => Request(voice, text, style), options.Value.SampleRate, ProviderName, cancellationToken);

    private HttpRequestMessage Request(VoiceEntry voice, string text, SpeechStyle style)
    {
        var settings = options.Value;
        var url = new Uri(settings.BaseUrl, $"text-to-speech/{Uri.EscapeDataString(voice.ElevenLabs)}/stream?output_format={settings.OutputFormat}");
        var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = JsonContent.Create(new StreamRequest(text, settings.ModelId, Settings(style)), options: Json),
        };
        request.Headers.Add("xi-api-key", settings.ApiKey);
        return request;
    }

    // voice_settings.speed: 0.7 to 1.2; omitted (the voice's own settings) when the style is neutral.
    private static VoiceSettings? Settings(SpeechStyle style) => style.RatePercent == 0 ? null : new VoiceSettings(Math.Clamp(1 + (style.RatePercent / 100.0), 0.7, 1.2));

    private sealed record StreamRequest(
        [property: JsonPropertyName("text")] string Text,
        [property: JsonPropertyName("model_id")] string ModelId,
        [property: JsonPropertyName("voice_settings")] VoiceSettings? VoiceSettings);

    private sealed record VoiceSettings([property: JsonPropertyName("speed")] double Speed);
}
