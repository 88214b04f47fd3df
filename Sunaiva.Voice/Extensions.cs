using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Voice.Preferences;

namespace Sunaiva.Voice;

public static class Extensions
{
    public static IHostApplicationBuilder AddVoiceServices(this IHostApplicationBuilder builder)
    {
        builder.AddSunaivaBackbone(ResourceNames.VoiceDb, typeof(Extensions).Assembly);
        builder.Services.AddSingleton<PreferenceStore>();
        builder.Services.AddEventHandler<SignupPreferenceHandler>();
        return builder;
    }

    public static WebApplication MapVoiceApi(this WebApplication app)
    {
        app.MapPreferencesApi();
        return app;
    }
}
