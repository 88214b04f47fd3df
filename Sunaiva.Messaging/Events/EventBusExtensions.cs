using Sunaiva.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.Messaging.Work;
using Sunaiva.ServiceDefaults.Data;
using Sunaiva.ServiceDefaults.Ops;

namespace Sunaiva.Messaging.Events;

public static class EventBusExtensions
{
    /// <summary>
    /// Durable work (runner, queue, ops endpoints), the webhook inbox, and events between services (outbox relay and stream
    /// bridge). Needs AddSunaivaDatabase and Redis.
    /// </summary>
    public static IHostApplicationBuilder AddSunaivaMessaging(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<EventBusOptions>()
            .BindConfiguration(EventBusOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddOptions<WorkOptions>()
            .BindConfiguration(WorkOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(new MigrationSource(typeof(WorkRunner).Assembly, "messaging/"));
        builder.Services.TryAddSingleton<WorkSignal>();
        builder.Services.TryAddSingleton<WorkStore>();
        builder.Services.TryAddSingleton<WorkQueue>();
        builder.Services.AddSingleton<WorkRunner>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<WorkRunner>());
        builder.Services.AddSingleton<WebhookInbox>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<WebhookInbox>());
        builder.Services.AddSingleton<IWorkHandler, MalformedEventWork>();
        builder.Services.AddSingleton<IWorkStatusSource, WorkStatusSource>();
        builder.Services.AddSingleton<IEndpointContributor, WorkOpsEndpoints>();

        builder.Services.TryAddSingleton<OutboxSignal>();
        builder.Services.TryAddSingleton<EventOutbox>();
        builder.Services.AddSingleton<OutboxRelay>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<OutboxRelay>());
        builder.Services.AddSingleton<EventStreamBridge>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<EventStreamBridge>());
        return builder;
    }

    /// <summary>The service's own database, the shared Redis and messaging: what every service stands on.</summary>
    public static IHostApplicationBuilder AddSunaivaBackbone(this IHostApplicationBuilder builder, string databaseConnectionName, System.Reflection.Assembly migrations)
    {
        builder.AddSunaivaDatabase(databaseConnectionName, migrations);
        builder.AddSunaivaRedis();
        return builder.AddSunaivaMessaging();
    }

    /// <summary>Subscribes a transactional handler to its event types; each event it handles is a work item of its own.</summary>
    public static IServiceCollection AddEventHandler<THandler>(this IServiceCollection services)
        where THandler : class, IIntegrationEventHandler
    {
        services.TryAddSingleton<THandler>();
        services.AddSingleton<IIntegrationEventHandler>(sp => sp.GetRequiredService<THandler>());
        services.AddSingleton<IWorkHandler>(sp => new EventHandlerWork(sp.GetRequiredService<THandler>()));
        return services;
    }

    /// <summary>Registers a kind of durable work.</summary>
    public static IServiceCollection AddWorkHandler<THandler>(this IServiceCollection services)
        where THandler : class, IWorkHandler
    {
        services.TryAddSingleton<THandler>();
        services.AddSingleton<IWorkHandler>(sp => sp.GetRequiredService<THandler>());
        return services;
    }

    /// <summary>Accepts a provider's webhooks at <c>/webhooks/{name}</c> and processes them as durable work.</summary>
    public static IServiceCollection AddWebhookProvider<TProvider, TProcessor>(this IServiceCollection services)
        where TProvider : class, IWebhookProvider
        where TProcessor : class, IWebhookProcessor
    {
        services.TryAddSingleton<TProvider>();
        services.TryAddSingleton<TProcessor>();
        services.AddSingleton<IWebhookProvider>(sp => sp.GetRequiredService<TProvider>());
        services.AddSingleton<IWebhookProcessor>(sp => sp.GetRequiredService<TProcessor>());
        services.AddSingleton<IWorkHandler>(sp => new WebhookWork(sp.GetRequiredService<TProcessor>(), sp.GetRequiredService<WebhookInbox>()));
        return services;
    }
}
