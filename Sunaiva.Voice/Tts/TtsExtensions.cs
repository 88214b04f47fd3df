using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Storage;

namespace Sunaiva.Voice.Tts;

public static class TtsExtensions
{
    /// <summary>
    /// The cloud TTS adapters' options and HTTP clients (streaming: no attempt timeout under the chain's chunk deadlines;
    /// metered, so a 429's Retry-After reaches the chain) and the object-storage tier of the TTS cache, when the
    /// <c>storage</c> connection is configured.
    /// </summary>
    public static IHostApplicationBuilder AddVoiceTtsProviders(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<OpenAITtsOptions>().BindConfiguration(OpenAITtsOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ElevenLabsTtsOptions>().BindConfiguration(ElevenLabsTtsOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddHttpClient(OpenAITts.HttpClientName).AsStreamingClient().AddProviderMetering(TtsService.Capability, OpenAITts.ProviderName);
        services.AddHttpClient(ElevenLabsTts.HttpClientName).AsStreamingClient().AddProviderMetering(TtsService.Capability, ElevenLabsTts.ProviderName);
        builder.TryAddSunaivaStorageClient();
        services.AddSingleton<TtsStorage>();
        services.AddSingleton<TtsCacheStats>();
        services.AddHealthChecks().AddCheck<TtsCacheHealthCheck>("tts-cache");
        return builder;
    }
}
