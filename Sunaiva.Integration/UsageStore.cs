using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Sunaiva.Integration;

/// <summary>A page of ledger rows.</summary>
public sealed record UsagePage(IReadOnlyList<UsageRow> Items, int Page, int PageSize, long Total);

/// <summary>Calls, outcomes, latency and cost of one provider serving one capability over a window.</summary>
public sealed record UsageSummaryRow(
    string Capability,
    string Provider,
    string Unit,
    long Calls,
    long Ok,
    long Errors,
    long Timeouts,
    long Throttled,
    long Fallbacks,
    long CircuitOpen,
    double? P50Ms,
    double? P95Ms,
    double? P99Ms,
    decimal CostUsd,
    decimal Units);

/// <summary>One time bucket of one provider.</summary>
public sealed record UsageBucket(DateTimeOffset Bucket, string Provider, long Calls, long Failures, double? P50Ms, double? P95Ms, decimal CostUsd);

/// <param name="ActiveUserKeys">Pseudonymous keys (first 16 hex of md5) of the window's users, so a dashboard can count distinct users across services.</param>
public sealed record UsageTotals(long Calls, long Errors, long Timeouts, long Throttled, long Fallbacks, long CircuitOpen, decimal CostUsd, long ActiveUsers, decimal CostPerActiveUser,
    IReadOnlyList<string> ActiveUserKeys);

public sealed record QuotaUsage(string Provider, string Name, string Unit, long Limit, decimal Used, string Window, bool PerUser, string Source, string Date);

public sealed record CacheSummary(long Hits, long Misses, decimal SavedUsd);

/// <summary>What <c>/ops/usage/summary</c> answers for one service.</summary>
public sealed record UsageSummary(
    string Service,
    string Window,
    DateTimeOffset From,
    DateTimeOffset To,
    int BucketSeconds,
    UsageTotals Totals,
    IReadOnlyList<UsageSummaryRow> Rows,
    IReadOnlyList<UsageBucket> Series,
    IReadOnlyList<AdapterHealth> Circuits,
    IReadOnlyList<QuotaUsage> Quotas,
    CacheSummary Cache);

public sealed record UserCostRow(string Capability, string Provider, long Calls, decimal Units, decimal CostUsd);

/// <summary>What one user cost this service this month.</summary>
public sealed record UserCost(string Service, string UserId, DateTimeOffset From, DateTimeOffset To, long Calls, decimal CostUsd, IReadOnlyList<UserCostRow> ByProvider);

/// <summary>Reads the usage ledger.</summary>
public sealed class UsageStore(NpgsqlDataSource dataSource, IntegrationRuntime runtime, IOptions<IntegrationOptions> options, IntegrationTelemetry telemetry)
{
    public static readonly IReadOnlyDictionary<string, (TimeSpan Span, TimeSpan Bucket)> Windows = new Dictionary<string, (TimeSpan, TimeSpan)>(StringComparer.Ordinal)
    {
        ["1h"] = (TimeSpan.FromHours(1), TimeSpan.FromMinutes(1)),
        ["24h"] = (TimeSpan.FromHours(24), TimeSpan.FromMinutes(15)),
        ["30d"] = (TimeSpan.FromDays(30), TimeSpan.FromHours(12)),
    };

    public async Task<UsagePage> ListAsync(DateTimeOffset from, DateTimeOffset to, string? provider, string? capability, string? userId, int page, int pageSize, CancellationToken cancellationToken)
    {
        const string where = """
            WHERE at >= @from AND at < @to
              AND (@provider::text IS NULL OR provider = @provider)
              AND (@capability::text IS NULL OR capability = @capability)
              AND (@userId::text IS NULL OR user_id = @userId)
            """;
        var args = new { from, to, provider, capability, userId, limit = pageSize, offset = (page - 1) * pageSize };
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var total = await connection.ExecuteScalarAsync<long>(new CommandDefinition($"SELECT count(*) FROM usage_ledger {where}", args, cancellationToken: cancellationToken));
        var rows = await connection.QueryAsync<LedgerRecord>(new CommandDefinition(
            $"""
            SELECT at AS At, service AS Service, capability AS Capability, provider AS Provider, operation AS Operation, unit AS Unit,
                   units AS Units, cost_usd AS CostUsd, duration_ms AS DurationMs, outcome AS Outcome, user_id AS UserId, error AS Error
            FROM usage_ledger {where}
            ORDER BY at DESC, id DESC
            LIMIT @limit OFFSET @offset
            """, args, cancellationToken: cancellationToken));
        return new UsagePage(rows.Select(r => r.ToRow()).ToList(), page, pageSize, total);
    }

    public async Task<UsageSummary> SummarizeAsync(string window, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var (span, bucket) = Windows[window];
        var from = now - span;
        var args = new { from, to = now, bucket = bucket };
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

        // Latency percentiles count only attempts that reached the provider: circuit-open and throttled rows took no time.
        const string called = "outcome IN ('ok', 'fallback', 'error', 'timeout')";
        var rows = (await connection.QueryAsync<SummaryRecord>(new CommandDefinition(
            $"""
            SELECT capability AS Capability, provider AS Provider, string_agg(DISTINCT unit, ',') AS Unit,
                   count(*) AS Calls,
                   count(*) FILTER (WHERE outcome = 'ok') AS Ok,
                   count(*) FILTER (WHERE outcome = 'error') AS Errors,
                   count(*) FILTER (WHERE outcome = 'timeout') AS Timeouts,
                   count(*) FILTER (WHERE outcome = 'throttled') AS Throttled,
                   count(*) FILTER (WHERE outcome = 'fallback') AS Fallbacks,
                   count(*) FILTER (WHERE outcome = 'circuit-open') AS CircuitOpen,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE {called}) AS P50Ms,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE {called}) AS P95Ms,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE {called}) AS P99Ms,
                   coalesce(sum(cost_usd), 0) AS CostUsd,
                   coalesce(sum(units), 0) AS Units
            FROM usage_ledger
            WHERE at >= @from AND at < @to
            GROUP BY capability, provider
            ORDER BY capability, provider
            """, args, cancellationToken: cancellationToken))).ToList();

        var series = (await connection.QueryAsync<BucketRecord>(new CommandDefinition(
            $"""
            SELECT date_bin(@bucket, at, TIMESTAMPTZ '2000-01-01') AS Bucket, provider AS Provider,
                   count(*) AS Calls,
                   count(*) FILTER (WHERE outcome IN ('error', 'timeout', 'circuit-open', 'throttled')) AS Failures,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE {called}) AS P50Ms,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE {called}) AS P95Ms,
                   coalesce(sum(cost_usd), 0) AS CostUsd
            FROM usage_ledger
            WHERE at >= @from AND at < @to
            GROUP BY 1, 2
            ORDER BY 1, 2
            """, args, cancellationToken: cancellationToken))).ToList();

        var users = await connection.QuerySingleAsync<(long ActiveUsers, decimal Cost)>(new CommandDefinition(
            "SELECT count(DISTINCT user_id), coalesce(sum(cost_usd), 0) FROM usage_ledger WHERE at >= @from AND at < @to",
            args, cancellationToken: cancellationToken));

        var userKeys = (await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT DISTINCT left(md5(user_id), 16) FROM usage_ledger WHERE at >= @from AND at < @to AND user_id IS NOT NULL LIMIT 100000",
            args, cancellationToken: cancellationToken))).ToList();

        var cache = await connection.QuerySingleAsync<(long Hits, long Misses, decimal Saved)>(new CommandDefinition(
            "SELECT count(*) FILTER (WHERE hit), count(*) FILTER (WHERE NOT hit), coalesce(sum(saved_usd), 0) FROM cache_ledger WHERE at >= @from AND at < @to",
            args, cancellationToken: cancellationToken));

        var circuits = runtime.Snapshot();
        var quotas = await QuotasAsync(connection, rows.Select(r => r.Provider).Concat(circuits.Select(c => c.Provider)).ToHashSet(StringComparer.OrdinalIgnoreCase), now, cancellationToken);

        var totals = new UsageTotals(
            rows.Sum(r => r.Calls), rows.Sum(r => r.Errors), rows.Sum(r => r.Timeouts), rows.Sum(r => r.Throttled), rows.Sum(r => r.Fallbacks), rows.Sum(r => r.CircuitOpen),
            users.Cost, users.ActiveUsers, users.ActiveUsers == 0 ? 0 : Math.Round(users.Cost / users.ActiveUsers, 6), userKeys);
        return new UsageSummary(telemetry.Service, window, from, now, (int)bucket.TotalSeconds, totals,
            rows.Select(r => r.ToRow()).ToList(), series.Select(b => b.ToBucket()).ToList(), circuits, quotas, new CacheSummary(cache.Hits, cache.Misses, cache.Saved));
    }

    public async Task<UserCost> UserCostAsync(string userId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var from = new DateTimeOffset(now.UtcDateTime.Year, now.UtcDateTime.Month, 1, 0, 0, 0, TimeSpan.Zero);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<UserCostRecord>(new CommandDefinition(
            """
            SELECT capability AS Capability, provider AS Provider, count(*) AS Calls, coalesce(sum(units), 0) AS Units, coalesce(sum(cost_usd), 0) AS CostUsd
            FROM usage_ledger
            WHERE user_id = @userId AND at >= @from AND at < @to
            GROUP BY capability, provider
            ORDER BY capability, provider
            """, new { userId, from, to = now }, cancellationToken: cancellationToken)))
            .Select(r => new UserCostRow(r.Capability, r.Provider, r.Calls, r.Units, r.CostUsd)).ToList();
        return new UserCost(telemetry.Service, userId, from, now, rows.Sum(r => r.Calls), rows.Sum(r => r.CostUsd), rows);
    }

    private async Task<IReadOnlyList<QuotaUsage>> QuotasAsync(NpgsqlConnection connection, HashSet<string> providers, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var result = new List<QuotaUsage>();
        foreach (var (provider, p) in options.Value.Providers.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!providers.Contains(provider))
            {
                continue;
            }

            foreach (var limit in p.Limits)
            {
                var requests = string.Equals(limit.Unit, "requests", StringComparison.OrdinalIgnoreCase);
                var measure = requests ? "count(*)::numeric" : "coalesce(sum(units), 0)";
                var filter = requests ? "outcome NOT IN ('circuit-open', 'throttled')" : "unit = @unit";
                var sql = limit.PerUser
                    ? $"SELECT coalesce(max(v), 0) FROM (SELECT {measure} AS v FROM usage_ledger WHERE provider = @provider AND at >= @from AND {filter} GROUP BY user_id) t"
                    : $"SELECT {measure} FROM usage_ledger WHERE provider = @provider AND at >= @from AND {filter}";
                var used = await connection.ExecuteScalarAsync<decimal>(new CommandDefinition(sql, new { provider, from = now - limit.Window, unit = limit.Unit }, cancellationToken: cancellationToken));
                result.Add(new QuotaUsage(provider, limit.Name, limit.Unit, limit.Permits, used, Describe(limit.Window), limit.PerUser, limit.Source, limit.Date));
            }
        }

        return result;
    }

    internal static string Describe(TimeSpan window) => window switch
    {
        { TotalDays: >= 1 } when window.TotalDays % 1 == 0 => window.TotalDays == 1 ? "day" : $"{window.TotalDays:0} days",
        { TotalHours: >= 1 } when window.TotalHours % 1 == 0 => window.TotalHours == 1 ? "hour" : $"{window.TotalHours:0} hours",
        { TotalMinutes: >= 1 } when window.TotalMinutes % 1 == 0 => window.TotalMinutes == 1 ? "minute" : $"{window.TotalMinutes:0} minutes",
        _ => window.TotalSeconds == 1 ? "second" : $"{window.TotalSeconds:0.###} seconds",
    };

    private sealed record LedgerRecord(DateTime At, string Service, string Capability, string Provider, string Operation, string Unit, decimal Units, decimal CostUsd, double DurationMs, string Outcome, string? UserId, string? Error)
    {
        public UsageRow ToRow() => new(new DateTimeOffset(DateTime.SpecifyKind(At, DateTimeKind.Utc)), Service, Capability, Provider, Operation, Unit, Units, CostUsd, DurationMs, Outcome, UserId, Error);
    }

    private sealed record SummaryRecord(string Capability, string Provider, string Unit, long Calls, long Ok, long Errors, long Timeouts, long Throttled, long Fallbacks, long CircuitOpen, double? P50Ms, double? P95Ms, double? P99Ms, decimal CostUsd, decimal Units)
    {
        public UsageSummaryRow ToRow() => new(Capability, Provider, Unit, Calls, Ok, Errors, Timeouts, Throttled, Fallbacks, CircuitOpen, Round(P50Ms), Round(P95Ms), Round(P99Ms), CostUsd, Units);
    }

    private sealed record BucketRecord(DateTime Bucket, string Provider, long Calls, long Failures, double? P50Ms, double? P95Ms, decimal CostUsd)
    {
        public UsageBucket ToBucket() => new(new DateTimeOffset(DateTime.SpecifyKind(Bucket, DateTimeKind.Utc)), Provider, Calls, Failures, Round(P50Ms), Round(P95Ms), CostUsd);
    }

    private sealed record UserCostRecord(string Capability, string Provider, long Calls, decimal Units, decimal CostUsd);

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 3) : null;
}
