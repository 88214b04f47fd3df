using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Sunaiva.ServiceDefaults.Data;

namespace Sunaiva.ServiceDefaults.Events;

public static class EventBusExtensions
{
    /// <summary>Outbox relay and stream consumer for this service (needs AddSunaivaDatabase and Redis).</summary>
    public static IHostApplicationBuilder AddSunaivaEventBus(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<EventBusOptions>()
            .BindConfiguration(EventBusOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddSingleton<OutboxSignal>();
        builder.Services.TryAddSingleton<EventOutbox>();
        builder.Services.AddSingleton<OutboxRelay>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OutboxRelay>());
        builder.Services.AddSingleton<EventConsumer>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EventConsumer>());
        return builder;
    }

    /// <summary>The service's own database, the shared Redis and the event bus: what every service stands on.</summary>
    public static IHostApplicationBuilder AddSunaivaBackbone(this IHostApplicationBuilder builder, string databaseConnectionName, System.Reflection.Assembly migrations)
    {
        builder.AddSunaivaDatabase(databaseConnectionName, migrations);
        builder.AddSunaivaRedis();
        return builder.AddSunaivaEventBus();
    }

    public static IServiceCollection AddEventHandler<THandler>(this IServiceCollection services)
        where THandler : class, IIntegrationEventHandler =>
        services.AddSingleton<IIntegrationEventHandler, THandler>();
}
