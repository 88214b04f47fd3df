using System.Diagnostics;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;
using Sunaiva.ServiceDefaults.Ops;

namespace Sunaiva.Integration;

/// <summary>Registration of the integration kernel and of provider chains.</summary>
public static class IntegrationKernelExtensions
{
    /// <summary>The kernel's price book, limits and quotas, embedded in Sunaiva.Integration; services' configuration overrides it.</summary>
    public const string ProvidersResource = "kernel-config/providers.json";

    /// <summary>
    /// Registers the kernel: options (validated at start), the ledger-backed meter, the ledger writer, adapter runtime
    /// (breakers, limiters, chaos), <c>/ops/status</c> provider health, the shared HybridCache and the chain error handler.
    /// Called by <c>AddServiceDefaults</c>; safe to call again.
    /// </summary>
    public static IHostApplicationBuilder AddIntegrationKernel(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        if (services.Any(d => d.ServiceType == typeof(IntegrationRuntime)))
        {
            return builder;
        }

        // Lowest precedence: appsettings, environment and tests override any provider entry.
        if (builder.Configuration is IConfigurationBuilder configuration)
        {
            configuration.Sources.Insert(0, new JsonStreamConfigurationSource { Stream = OpenProvidersJson() });
        }

        services.AddOptions<IntegrationOptions>()
            .BindConfiguration(IntegrationOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<IntegrationOptions>, IntegrationOptionsValidator>();

        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IntegrationTelemetry>();
        services.AddSingleton<PriceBook>();
        services.AddSingleton<ChaosControl>();
        services.AddSingleton<IntegrationRuntime>();
        services.AddSingleton<IProviderStatusSource>(sp => sp.GetRequiredService<IntegrationRuntime>());
        services.AddSingleton<LedgerMeter>();
        services.Replace(ServiceDescriptor.Singleton<IIntegrationMeter>(sp => sp.GetRequiredService<LedgerMeter>()));
        services.AddSingleton<UsageLedgerWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageLedgerWriter>());
        services.AddSingleton(sp => sp.GetService<NpgsqlDataSource>() is { } dataSource
            ? new UsageStore(dataSource, sp.GetRequiredService<IntegrationRuntime>(), sp.GetRequiredService<IOptions<IntegrationOptions>>(), sp.GetRequiredService<IntegrationTelemetry>())
            : null!);

        // Shared two-level cache: memory, then Redis when the service has the redis connection.
        services.TryAddSingleton<IDistributedCache>(sp => sp.GetService<IConnectionMultiplexer>() is { } redis
            ? new RedisCache(Options.Create(new RedisCacheOptions
            {
                ConnectionMultiplexerFactory = () => Task.FromResult(redis),
                InstanceName = $"sunaiva:cache:{sp.GetRequiredService<ServiceIdentity>().Name}:",
            }))
            : new MemoryDistributedCache(Options.Create(new Microsoft.Extensions.Caching.Memory.MemoryDistributedCacheOptions())));
        services.AddHybridCache(o =>
        {
            o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = TimeSpan.FromHours(1), LocalCacheExpiration = TimeSpan.FromMinutes(5) };
            o.MaximumPayloadBytes = 16 * 1024 * 1024;
        });

        services.AddExceptionHandler<ProviderChainExceptionHandler>();
        return builder;
    }

    internal static Stream OpenProvidersJson() =>
        typeof(IntegrationKernelExtensions).Assembly.GetManifestResourceStream(ProvidersResource)
        ?? throw new InvalidOperationException($"Embedded resource {ProvidersResource} is missing from Sunaiva.Integration.");

    /// <summary>Declares a capability's chain: <c>services.AddProviderChain&lt;ITts&gt;("tts").AddAdapter&lt;ElevenLabsTts&gt;().AddAdapter&lt;EspeakTts&gt;()</c>.</summary>
    /// <remarks>Order of preference comes from <c>Integration:Capabilities:{capability}:Adapters</c>, else registration order.
    /// Resolve <see cref="ProviderChain{TAdapter}"/> (or the keyed service named after the capability).</remarks>
    public static ProviderChainBuilder<TAdapter> AddProviderChain<TAdapter>(this IServiceCollection services, string capability)
        where TAdapter : class, IProviderAdapter
    {
        services.AddKeyedSingleton(capability, (sp, _) => new ProviderChain<TAdapter>(
            capability,
            sp.GetKeyedServices<TAdapter>(capability),
            sp.GetRequiredService<IntegrationRuntime>(),
            sp.GetRequiredService<IIntegrationMeter>(),
            sp.GetRequiredService<IOptions<IntegrationOptions>>(),
            sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => sp.GetRequiredKeyedService<ProviderChain<TAdapter>>(capability));
        return new ProviderChainBuilder<TAdapter>(services, capability);
    }

    /// <summary>
    /// For relays, SSE and long renders: removes the standard resilience handler (10 s attempt, 30 s total timeouts)
    /// and HttpClient's own 100 s timeout from this client. The provider chain's streaming deadline and the caller's
    /// token bound the call instead.
    /// </summary>
    public static IHttpClientBuilder AsStreamingClient(this IHttpClientBuilder builder)
    {
        // The only way to take one client out of ConfigureHttpClientDefaults' standard handler; experimental in 10.x.
#pragma warning disable EXTEXP0001
        builder.RemoveAllResilienceHandlers();
#pragma warning restore EXTEXP0001
        builder.ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan);
        return builder;
    }

    /// <summary>Adds <c>Sunaiva-Degraded: &lt;provider&gt;</c> when a fallback adapter served the answer.</summary>
    public static void MarkDegraded<T>(this HttpResponse response, ChainResult<T> result)
    {
        if (result.Degraded)
        {
            response.Headers[DegradedHeader] = result.Provider;
        }
    }

    /// <summary>Adds <c>Sunaiva-Degraded: &lt;provider&gt;</c> when a fallback adapter serves the stream; call it after the first chunk.</summary>
    public static void MarkDegraded<T>(this HttpResponse response, ChainStream<T> stream)
    {
        if (stream.Degraded && stream.Provider is { } provider)
        {
            response.Headers[DegradedHeader] = provider;
        }
    }

    public const string DegradedHeader = "Sunaiva-Degraded";
}

/// <summary>Adds adapters to a chain in registration order.</summary>
public sealed class ProviderChainBuilder<TAdapter>(IServiceCollection services, string capability)
    where TAdapter : class, IProviderAdapter
{
    public IServiceCollection Services { get; } = services;

    public string Capability { get; } = capability;

    public ProviderChainBuilder<TAdapter> AddAdapter<TImplementation>()
        where TImplementation : class, TAdapter
    {
        Services.TryAddSingleton<TImplementation>();
        Services.AddKeyedSingleton<TAdapter>(Capability, (sp, _) => sp.GetRequiredService<TImplementation>());
        return this;
    }

    public ProviderChainBuilder<TAdapter> AddAdapter(Func<IServiceProvider, TAdapter> factory)
    {
        Services.AddKeyedSingleton<TAdapter>(Capability, (sp, _) => factory(sp));
        return this;
    }
}

/// <summary>
/// Turns a chain that could not serve into 503 (504 when its deadline ran out) ProblemDetails, always with Retry-After (the
/// provider's when known, 5 s otherwise); an input a provider refused (<see cref="PermanentFailureException"/>) into 422.
/// </summary>
internal sealed class ProviderChainExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    private static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(5);

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is PermanentFailureException rejected)
        {
            httpContext.Response.StatusCode = StatusCodes.Status422UnprocessableEntity;
            var refused = new ProblemDetails
            {
                Status = StatusCodes.Status422UnprocessableEntity,
                Title = "The provider refused this input",
                Detail = "Sending it again, or through another provider, will not change the answer.",
                Type = "https://sunaiva.dev/problems/provider-rejected",
            };
            refused.Extensions["provider"] = rejected.Provider;
            refused.Extensions["reason"] = rejected.Reason;
            return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = refused, Exception = exception });
        }

        if (exception is not ProviderChainException chain)
        {
            return false;
        }

        var status = chain.DeadlineExceeded ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.StatusCode = status;
        // Always a Retry-After: when no provider said how long (every attempt failed rather than an open circuit), a
        // short default lets the caller come back once the chain's breakers have had a chance to settle.
        var retry = chain.RetryAfter ?? DefaultRetryAfter;
        httpContext.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

        var details = new ProblemDetails
        {
            Status = status,
            Title = chain.DeadlineExceeded ? $"The {chain.Capability} providers did not answer in time" : $"No {chain.Capability} provider is available",
            Detail = "Every provider for this capability failed or was unavailable; try again later.",
            Type = "https://sunaiva.dev/problems/provider-unavailable",
        };
        details.Extensions["capability"] = chain.Capability;
        details.Extensions["unavailable"] = chain.Unavailable;
        details.Extensions["attempts"] = chain.Attempts.Select(a => new { a.Provider, Outcome = IntegrationTelemetry.OutcomeName(a.Outcome) }).ToList();
        details.Extensions["traceId"] = Activity.Current?.Id ?? httpContext.TraceIdentifier;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = details, Exception = exception });
    }
}
