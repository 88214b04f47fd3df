using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Microsoft.Extensions.Http.Resilience;
using Sunaiva;
using Sunaiva.ServiceDefaults;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.Data;
using Sunaiva.ServiceDefaults.Http;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Ops;
using Sunaiva.ServiceDefaults.RateLimiting;

namespace Microsoft.Extensions.Hosting;

/// <summary>What every Sunaiva service shares: telemetry, health, discovery, resilience, auth and ProblemDetails.</summary>
public static class SunaivaServiceDefaults
{
    public const string HealthPath = "/health";
    public const string AlivePath = "/alive";

    /// <summary>How long one health check may run before it counts as unhealthy (unless it sets its own timeout).</summary>
    public static readonly TimeSpan HealthCheckTimeout = TimeSpan.FromSeconds(5);

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        var identity = ServiceIdentity.FromApplicationName(builder.Environment.ApplicationName);
        builder.Services.AddSingleton(identity);
        builder.Services.AddSingleton(TimeProvider.System);

        builder.ConfigureOpenTelemetry(identity);
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy(), ["live"]);
        // A dependency that hangs (a stopped process, a lost network path) makes its check wait as long as the client's
        // own timeouts and retries (object storage: 30 s three times): every check without a timeout of its own, ours and
        // the Aspire integrations', is given up after HealthCheckTimeout and reported unhealthy, so /health and /ops/status answer.
        builder.Services.PostConfigure<HealthCheckServiceOptions>(o =>
        {
            foreach (var registration in o.Registrations.Where(r => r.Timeout == Timeout.InfiniteTimeSpan))
            {
                registration.Timeout = HealthCheckTimeout;
            }
        });
        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler(o => o.Retry.DisableForUnsafeHttpMethods());
            http.AddServiceDiscovery();
        });

        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx =>
        {
            ctx.ProblemDetails.Extensions.TryAdd("traceId", System.Diagnostics.Activity.Current?.Id ?? ctx.HttpContext.TraceIdentifier);
        });
        builder.Services.AddExceptionHandler<BadRequestExceptionHandler>();
        builder.Services.AddExceptionHandler<Sunaiva.ServiceDefaults.Resilience.DependencyUnavailableExceptionHandler>();
        builder.Services.AddSunaivaHttpHardening();
        builder.AddSunaivaAuthentication();
        builder.AddSunaivaRateLimiting();
        builder.Services.AddSingleton<DependencyStatusReporter>();
        builder.AddIntegrationKernel();
        builder.AddSunaivaOpenApi();
        return builder;
    }

    /// <summary>Adds the shared Redis connection (connection name <c>redis</c>).</summary>
    public static TBuilder AddSunaivaRedis<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.AddRedisClient(ResourceNames.Redis, configureOptions: o => o.AbortOnConnectFail = false);
        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder, ServiceIdentity identity)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter("Sunaiva.*", $"Sunaiva.{identity.Name}"))
            .WithTracing(tracing => tracing
                .AddSource("Sunaiva.*", "Npgsql")
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx =>
                    !ctx.Request.Path.StartsWithSegments(HealthPath) && !ctx.Request.Path.StartsWithSegments(AlivePath))
                .AddHttpClientInstrumentation());

        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    /// <summary>Middleware and endpoints every service maps: errors as ProblemDetails, auth, health, <c>/</c>, <c>/ops/status</c>.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseSunaivaHttpHardening();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        // Routing after the middleware every request needs, so an endpoint that short-circuits (webhook deliveries) still
        // gets body limits, ProblemDetails and 503 on an outage, and skips only what follows.
        app.UseRouting();
        app.UseAuthentication();
        app.UseSunaivaRateLimiting();
        app.UseAuthorization();

        // Health is mapped in every environment: the AppHost and orchestrators probe it.
        app.MapHealthChecks(HealthPath).WithMetadata(new HttpMethodMetadata(["GET", "HEAD"]));
        app.MapHealthChecks(AlivePath, new HealthCheckOptions { Predicate = r => r.Tags.Contains("live") }).WithMetadata(new HttpMethodMetadata(["GET", "HEAD"]));

        var identity = app.Services.GetRequiredService<ServiceIdentity>();
        app.MapGet("/", () => TypedResults.Ok(new ServiceInfo(identity.Name, identity.Version, "Sunaiva " + identity.Name)))
            .AllowAnonymous()
            .WithName("ServiceInfo");
        app.MapGet("/ops/status", async (DependencyStatusReporter reporter, CancellationToken ct) => TypedResults.Ok(await reporter.ReportAsync(ct)))
            .RequireOps();
        foreach (var contributor in app.Services.GetServices<IEndpointContributor>())
        {
            contributor.Map(app);
        }

        app.MapGroup("/ops").RequireOps().WithTags("ops").MapIntegrationOpsApi();
        app.MapSunaivaOpenApi();
        return app;
    }
}

/// <summary>What <c>GET /</c> answers.</summary>
public sealed record ServiceInfo(string Service, string Version, string Description);
