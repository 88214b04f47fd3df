using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;
using Sunaiva.ServiceDefaults.Events;

namespace Sunaiva.ServiceDefaults.Ops;

public sealed record DependencyStatus(string Name, string State, string? Detail, double DurationMs);

public sealed record EventBusStatus(long StreamLength, long Pending, long DeadLettered, long DeadLetteredTotal);

public sealed record OpsStatus(
    string Service,
    string Version,
    string State,
    DateTimeOffset CheckedAt,
    IReadOnlyList<DependencyStatus> Dependencies,
    IReadOnlyList<ProviderStatus> Providers,
    EventBusStatus? Events);

/// <summary>Builds <c>/ops/status</c> from the health checks, the provider sources and the event bus.</summary>
public sealed class DependencyStatusReporter(
    HealthCheckService health,
    ServiceIdentity identity,
    IEnumerable<IProviderStatusSource> providers,
    IServiceProvider services,
    TimeProvider time)
{
    public async Task<OpsStatus> ReportAsync(CancellationToken cancellationToken)
    {
        var report = await health.CheckHealthAsync(r => !r.Tags.Contains("live"), cancellationToken);
        var dependencies = report.Entries
            .Select(e => new DependencyStatus(e.Key, e.Value.Status.ToString().ToLowerInvariant(), e.Value.Description, e.Value.Duration.TotalMilliseconds))
            .OrderBy(d => d.Name, StringComparer.Ordinal)
            .ToList();
        var events = await ReadEventBusAsync();
        return new OpsStatus(
            identity.Name,
            identity.Version,
            report.Status.ToString().ToLowerInvariant(),
            time.GetUtcNow(),
            dependencies,
            providers.SelectMany(p => p.GetStatuses()).ToList(),
            events);
    }

    private async Task<EventBusStatus?> ReadEventBusAsync()
    {
        if (services.GetService<IConnectionMultiplexer>() is not { } redis)
        {
            return null;
        }

        try
        {
            var db = redis.GetDatabase();
            var length = await db.StreamLengthAsync(ResourceNames.EventStream);
            var pending = 0L;
            try
            {
                pending = (await db.StreamPendingAsync(ResourceNames.EventStream, identity.Name)).PendingMessageCount;
            }
            catch (RedisServerException)
            {
                // The group does not exist yet.
            }

            var mine = await db.HashGetAsync(EventConsumer.DeadLetterCountKey, identity.Name);
            var total = await db.StreamLengthAsync(ResourceNames.DeadLetterStream);
            return new EventBusStatus(length, pending, mine.IsNull ? 0 : (long)mine, total);
        }
        catch (RedisException)
        {
            return null;
        }
    }
}
