namespace Sunaiva.AppHost.Infrastructure;

/// <summary>
/// How a supervised resource is restarted after it exits on its own: after <see cref="InitialDelay"/>, doubling
/// per consecutive crash up to <see cref="MaxDelay"/>; a resource that ran for <see cref="StableAfter"/> starts
/// over at the first delay.
/// </summary>
public sealed record SupervisionPolicy(TimeSpan InitialDelay, TimeSpan MaxDelay, TimeSpan StableAfter)
{
    public static SupervisionPolicy Default { get; } = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1));

    /// <summary>The wait before restart attempt <paramref name="attempt"/> (1-based): 1 s, 2 s, 4 s ... capped.</summary>
    public TimeSpan DelayBefore(int attempt) =>
        TimeSpan.FromTicks(Math.Min(InitialDelay.Ticks * (1L << Math.Clamp(attempt - 1, 0, 30)), MaxDelay.Ticks));
}

/// <summary>Marks a resource that <see cref="ResourceSupervisor"/> restarts when it exits unexpectedly.</summary>
public sealed class SupervisedAnnotation(SupervisionPolicy policy) : IResourceAnnotation
{
    public SupervisionPolicy Policy { get; } = policy;
}

/// <summary>What the supervisor did for one resource, for the dashboard, tests and ops.</summary>
public sealed record SupervisionRecord(string Resource, int Restarts, int ConsecutiveFailures, int? LastExitCode, DateTimeOffset? LastRestartAt);

public static class SupervisionExtensions
{
    /// <summary>Restarts the resource with back-off whenever it exits without being asked to (crash, kill -9, OOM).</summary>
    public static IResourceBuilder<T> WithSupervision<T>(this IResourceBuilder<T> resource, SupervisionPolicy? policy = null)
        where T : IResource
    {
        resource.ApplicationBuilder.Services.AddResourceSupervisor();
        return resource.WithAnnotation(new SupervisedAnnotation(policy ?? SupervisionPolicy.Default), ResourceAnnotationMutationBehavior.Replace);
    }

    private static IServiceCollection AddResourceSupervisor(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(ResourceSupervisor)))
        {
            services.AddSingleton<ResourceSupervisor>();
            services.AddHostedService(sp => sp.GetRequiredService<ResourceSupervisor>());
        }

        return services;
    }
}
