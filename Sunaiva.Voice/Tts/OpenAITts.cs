using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Sunaiva.Voice.Catalog;

namespace Sunaiva.Voice.Tts;

/// <summary>
/// OpenAI speech: <c>POST /v1/audio/speech</c> with the catalog's OpenAI voice and <c>response_format: pcm</c> (raw
/// PCM16 mono at 24 kHz, sent as it is generated), resampled to <see cref="TtsFormat.SampleRate"/>. Errors are left to
/// the chain: a 429 (with its Retry-After) throttles the adapter, any other failure or a stall before the first chunk
/// moves the stream to the next adapter. A 400 is not a <c>PermanentFailureException</c>: espeak can still speak a text
/// OpenAI refused, and a voice must never go silent.
/// </summary>
public sealed class OpenAITts(IHttpClientFactory clients, IOptions<OpenAITtsOptions> options) : ITtsAdapter
{
    public const string ProviderName = "openai-tts";
    public const string HttpClientName = "openai-tts";

    /// <summary>OpenAI's <c>pcm</c> format: 24 kHz, 16-bit signed little-endian, mono.</summary>
    public const int PcmRate = 24000;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    public string Provider => ProviderName;

    public bool IsAvailable => options.Value.Configured;

    public string VoiceKey(VoiceEntry voice) => $"{options.Value.Model}:{voice.OpenAi}";

    public IAsyncEnumerable<ReadOnlyMemory<byte>> SynthesizeAsync(VoiceEntry voice, string text, SpeechStyle style, CancellationToken cancellationToken) =>
        CloudPcm.StreamAsync(clients.CreateClient(HttpClientName), () => Request(voice, text, style), PcmRate, ProviderName, cancellationToken);

    private HttpRequestMessage Request(VoiceEntry voice, string text, SpeechStyle style)
    {
        var settings = options.Value;
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(settings.BaseUrl, "audio/speech"))
        {
            Content = JsonContent.Create(new SpeechRequest(settings.Model, text, voice.OpenAi, "pcm", Speed(style)), options: Json),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", settings.ApiKey);
        return request;
    }

    // speed: 0.25 to 4.0, 1.0 the default (omitted); the style's rate change maps onto it, pitch has no equivalent.
    private static double? Speed(SpeechStyle style) => style.RatePercent == 0 ? null : Math.Clamp(1 + (style.RatePercent / 100.0), 0.25, 4.0);

    private sealed record SpeechRequest(
        [property: JsonPropertyName("model")] string Model,
        [property: JsonPropertyName("input")] string Input,
        [property: JsonPropertyName("voice")] string Voice,
        [property: JsonPropertyName("response_format")] string ResponseFormat,
        [property: JsonPropertyName("speed")] double? Speed);
}
