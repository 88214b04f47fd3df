using Sunaiva.ServiceDefaults.Data;
using Sunaiva.ServiceDefaults.Events;
using Sunaiva.Voice.Preferences;

namespace Sunaiva.Voice;

public static class Extensions
{
    public static IHostApplicationBuilder AddVoiceServices(this IHostApplicationBuilder builder)
    {
        builder.AddSunaivaDatabase(ResourceNames.VoiceDb);
        builder.AddSunaivaRedis();
        builder.AddSunaivaEventBus();
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
