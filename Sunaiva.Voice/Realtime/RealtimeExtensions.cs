using Sunaiva.Messaging.Events;
using Sunaiva.Integration;
using Sunaiva.Voice.Entitlements;

namespace Sunaiva.Voice.Realtime;

public static class RealtimeExtensions
{
    /// <summary>
    /// Cloud realtime: <see cref="RealtimeMinter"/> (OpenAI client secrets through the <c>realtime</c> chain, daily minutes
    /// by plan), the entitlements mirrored from Billing's subscription events, and their options.
    /// </summary>
    public static IHostApplicationBuilder AddVoiceRealtime(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<RealtimeOptions>().BindConfiguration(RealtimeOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<EntitlementOptions>().BindConfiguration(EntitlementOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();

        // The chain owns timeouts and the one retry (Integration:Providers:openai-realtime): no standard resilience layer under it.
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is marked for evaluation; it is the documented way to opt one client out.
        services.AddHttpClient(OpenAIRealtimeAdapter.HttpClientName)
            .RemoveAllResilienceHandlers()
            .AddProviderMetering(RealtimeMinter.Capability, OpenAIRealtimeAdapter.ProviderName);
#pragma warning restore EXTEXP0001
        services.AddProviderChain<IRealtimeAdapter>(RealtimeMinter.Capability).AddAdapter<OpenAIRealtimeAdapter>();

        services.AddSingleton<EntitlementStore>();
        services.AddEventHandler<SubscriptionEntitlementHandler>();
        services.AddSingleton<RealtimeUsageLedger>();
        services.AddSingleton<RealtimeMinter>();
        services.AddSingleton<Sunaiva.Voice.Sessions.IRealtimeSessionMinter, RealtimeSessionMinter>();
        return builder;
    }
}
