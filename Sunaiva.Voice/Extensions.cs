using Sunaiva.ServiceDefaults.Mcp;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Microsoft.Extensions.Options;
using Sunaiva.Voice.Catalog;
using Sunaiva.Voice.Emotion;
using Sunaiva.Voice.Preferences;
using Sunaiva.Voice.Realtime;
using Sunaiva.Voice.Pipeline;
using Sunaiva.Voice.Sessions;
using Sunaiva.Voice.Tts;
using Sunaiva.Voice.Transcriptions;
using Sunaiva.Voice.Demo;

namespace Sunaiva.Voice;

public static class Extensions
{
    public static IHostApplicationBuilder AddVoiceServices(this IHostApplicationBuilder builder)
    {
        builder.AddSunaivaBackbone(ResourceNames.VoiceDb, typeof(Extensions).Assembly);
        builder.Services.AddOptions<VoiceCatalogOptions>()
            .Configure(o =>
            {
                var catalog = VoiceCatalogOptions.LoadEmbedded();
                o.Samples = catalog.Samples;
                o.Voices = catalog.Voices;
            })
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<VoiceCatalogOptions>, VoiceCatalogValidator>();
        builder.Services.AddSingleton<VoiceCatalog>();
        builder.Services.AddOptions<EspeakOptions>().BindConfiguration(EspeakOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<EspeakSampler>();
        builder.Services.AddSingleton<PreferenceStore>();
        builder.Services.AddEventHandler<SignupPreferenceHandler>();
        builder.AddVoiceEmotion();
        builder.AddVoiceRealtime();
        builder.AddSunaivaMcp(mcp => mcp.WithTools<Sunaiva.Voice.Mcp.VoiceTools>());
        builder.AddVoicePipeline();
        builder.AddVoiceTtsProviders();
        return builder;
    }

    public static WebApplication MapVoiceApi(this WebApplication app)
    {
        app.MapVoicesApi();
        app.MapPreferencesApi();
        app.MapRealtimeApi();
        app.MapSunaivaMcp();
        app.UseWebSockets();
        app.MapSessionsApi();
        app.MapTtsApi();
        app.MapTranscriptionsApi();
        app.MapVoiceDemo();
        return app;
    }
}
