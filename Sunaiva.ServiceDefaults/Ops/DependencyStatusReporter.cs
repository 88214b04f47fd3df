using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Sunaiva.ServiceDefaults.Ops;

public sealed record DependencyStatus(string Name, string State, string? Detail, double DurationMs);

/// <summary>The service's durable work as ops see it: due, running and dead items, and the event stream it reads.</summary>
public sealed record WorkStatus(long Pending, long Running, long Dead, double OldestDueSeconds, IReadOnlyList<WorkKindStatus> Kinds, EventStreamStatus? Events);

public sealed record WorkKindStatus(string Kind, long Pending, long Running, long Dead);

public sealed record EventStreamStatus(long StreamLength, long Pending);

/// <summary>Reports the durable work of this service (registered by the messaging library).</summary>
public interface IWorkStatusSource
{
    Task<WorkStatus?> ReadAsync(CancellationToken cancellationToken);
}

/// <summary>Maps endpoints of a shared library (messaging ops, MCP) when the service maps its defaults.</summary>
public interface IEndpointContributor
{
    void Map(Microsoft.AspNetCore.Routing.IEndpointRouteBuilder endpoints);
}

public sealed record OpsStatus(
    string Service,
    string Version,
    string State,
    DateTimeOffset CheckedAt,
    IReadOnlyList<DependencyStatus> Dependencies,
    IReadOnlyList<ProviderStatus> Providers,
    WorkStatus? Work);

/// <summary>Builds <c>/ops/status</c> from the health checks, the provider sources and the durable work.</summary>
public sealed class DependencyStatusReporter(
    HealthCheckService health,
    ServiceIdentity identity,
    IEnumerable<IProviderStatusSource> providers,
    IEnumerable<IWorkStatusSource> work,
    TimeProvider time)
{
    public async Task<OpsStatus> ReportAsync(CancellationToken cancellationToken)
    {
        var report = await health.CheckHealthAsync(r => !r.Tags.Contains("live"), cancellationToken);
        var dependencies = report.Entries
            .Select(e => new DependencyStatus(e.Key, e.Value.Status.ToString().ToLowerInvariant(), e.Value.Description, e.Value.Duration.TotalMilliseconds))
            .OrderBy(d => d.Name, StringComparer.Ordinal)
            .ToList();
        var workStatus = await ReadWorkAsync(cancellationToken);
        return new OpsStatus(
            identity.Name,
            identity.Version,
            report.Status.ToString().ToLowerInvariant(),
            time.GetUtcNow(),
            dependencies,
            providers.SelectMany(p => p.GetStatuses()).ToList(),
            workStatus);
    }

    private async Task<WorkStatus?> ReadWorkAsync(CancellationToken cancellationToken)
    {
        foreach (var source in work)
        {
            try
            {
                return await source.ReadAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // The database is down or did not answer: the dependencies above already say so. Only the caller's own
                // cancellation ends the report.
                return null;
            }
        }

        return null;
    }
}
