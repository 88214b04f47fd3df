using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Media.Videos;

public static class VideoExtensions
{
    /// <summary>Onboarding videos: the <c>video-render</c> chain (HeyGen, then ffmpeg), the <c>tts</c> chain (Voice, then espeak-ng), jobs, webhook, API.</summary>
    public static IHostApplicationBuilder AddVideoServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<VideoOptions>().BindConfiguration(VideoOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<HeyGenOptions>().BindConfiguration(HeyGenOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();

        services.AddHttpClient<VoiceServiceTts>(VoiceServiceTts.HttpClientName, (sp, client) =>
            client.BaseAddress = new Uri(sp.GetRequiredService<IOptions<VideoOptions>>().Value.VoiceBaseUrl));
        services.AddSingleton<EspeakNarrationTts>();
        services.AddProviderChain<INarrationTts>("tts")
            .AddAdapter<VoiceServiceTts>()
            .AddAdapter<EspeakNarrationTts>();
        services.AddSingleton<NarrationBuilder>();
        services.AddSingleton<LocalRenderer>();
        services.AddSingleton<RenderSlots>();

        services.AddHttpClient<HeyGenClient>(HeyGenClient.HttpClientName, (sp, client) =>
            client.BaseAddress = sp.GetRequiredService<IOptions<HeyGenOptions>>().Value.BaseUrl).AsStreamingClient();
        services.AddSingleton<LocalVideoAdapter>();
        services.AddSingleton<HeyGenVideoAdapter>();
        services.AddProviderChain<IVideoRenderAdapter>("video-render")
            .AddAdapter<HeyGenVideoAdapter>()
            .AddAdapter<LocalVideoAdapter>();

        services.AddSingleton<VideoStore>();
        services.AddSingleton<VideoObjects>();
        services.AddSingleton<VideoProgress>();
        services.AddSingleton<VideoJobs>();
        services.AddSingleton<VideoCompletion>();
        services.AddSingleton<HeyGenOutcome>();
        services.AddWorkHandler<VideoRenderWork>();
        services.AddWorkHandler<VideoLocalWork>();
        services.AddWorkHandler<HeyGenPollWork>();
        services.AddWebhookProvider<HeyGenWebhookProvider, HeyGenWebhookProcessor>();
        services.AddEventHandler<SignupVideosHandler>();
        return builder;
    }
}
