using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Sunaiva.ServiceDefaults.Data;
using Sunaiva.Integration;
using Sunaiva.Testing;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

[Collection(ServersCollection.Name)]
public sealed class MeteringTests(LocalServers servers)
{
    [Fact]
    public async Task Ledger_holds_one_row_per_attempt_with_units_cost_and_outcome_and_metrics_carry_the_same_totals()
    {
        var database = LocalServers.NewDatabaseName("kernel");
        using var kernel = new KernelHost(
            new Dictionary<string, string?> { ["ConnectionStrings:kerneldb"] = servers.PostgresConnectionString(database) },
            recordingMeter: false,
            configure: b => b.AddSunaivaDatabase("kerneldb", typeof(MeteringTests).Assembly));
        var exported = new List<MetricSnapshot>();
        using var metrics = Sdk.CreateMeterProviderBuilder()
            .AddMeter(IntegrationTelemetry.MeterNameFor("kerneltests"))
            .AddInMemoryExporter(exported)
            .Build();
        await kernel.Services.GetRequiredService<DatabaseMigrator>().RunAsync(CancellationToken.None);
        await kernel.Host.StartAsync();

        using (MeteringContext.ForUser("user-1"))
        {
            // Three failures (error + fallback rows), then the open circuit (circuit-open + fallback), then recovery (ok).
            kernel.Primary.Fail();
            for (var i = 0; i < 3; i++)
            {
                await kernel.EchoAsync("hello");
            }

            await kernel.EchoAsync("hello");
            kernel.Primary.Succeed();
            kernel.Time.Advance(TimeSpan.FromSeconds(31));
            await kernel.EchoAsync("hello");
        }

        await kernel.Services.GetRequiredService<UsageLedgerWriter>().FlushAsync(CancellationToken.None);

        await using var connection = new NpgsqlConnection(servers.PostgresConnectionString(database));
        var rows = (await connection.QueryAsync<(string Provider, string Outcome, decimal Units, decimal Cost, string Unit, string? UserId, string Service)>(
            "SELECT provider, outcome, units, cost_usd, unit, user_id, service FROM usage_ledger ORDER BY id")).ToList();

        Assert.Equal(
            [
                ("primary", "error"), ("backup", "fallback"),
                ("primary", "error"), ("backup", "fallback"),
                ("primary", "error"), ("backup", "fallback"),
                ("primary", "circuit-open"), ("backup", "fallback"),
                ("primary", "ok"),
            ],
            rows.Select(r => (r.Provider, r.Outcome)));
        Assert.All(rows.Where(r => r.Outcome is "error" or "circuit-open"), r => Assert.Equal((0m, 0m), (r.Units, r.Cost)));
        Assert.All(rows.Where(r => r.Outcome == "fallback"), r => Assert.Equal((5m, 0.0005m), (r.Units, r.Cost)));
        Assert.Equal((5m, 0.005m), rows.Where(r => r.Outcome == "ok").Select(r => (r.Units, r.Cost)).Single());
        Assert.All(rows, r => Assert.Equal(("characters", "user-1", "kerneltests"), (r.Unit, r.UserId, r.Service)));

        metrics.ForceFlush();
        Assert.Equal(rows.Count, SumLong(exported, IntegrationTelemetry.CallsInstrument));
        Assert.Equal((double)rows.Sum(r => r.Cost), SumDouble(exported, IntegrationTelemetry.CostInstrument), 9);
        Assert.Equal(rows.Count, HistogramCount(exported, IntegrationTelemetry.DurationInstrument));
        Assert.Equal(3, SumLong(exported, IntegrationTelemetry.CallsInstrument, ("outcome", "error")));
        Assert.Equal(4, SumLong(exported, IntegrationTelemetry.CallsInstrument, ("outcome", "fallback")));
        Assert.Equal(1, SumLong(exported, IntegrationTelemetry.CallsInstrument, ("outcome", "circuit-open")));
        var circuit = Assert.Single(Points(exported, "sunaiva.integration.circuit.state", ("provider", "primary")));
        Assert.Equal(0, circuit.GetGaugeLastValueLong());
        var errorRate = Assert.Single(Points(exported, "sunaiva.integration.error_rate", ("provider", "primary")));
        Assert.Equal(0.75, errorRate.GetGaugeLastValueDouble(), 6);

        await kernel.Host.StopAsync();
    }

    [Fact]
    public async Task Ledger_rows_gather_for_the_flush_interval_and_a_flush_writes_them_at_once()
    {
        var database = LocalServers.NewDatabaseName("kernel");
        using var kernel = new KernelHost(
            new Dictionary<string, string?>
            {
                ["ConnectionStrings:kerneldb"] = servers.PostgresConnectionString(database),
                ["Integration:Ledger:FlushInterval"] = "00:01:00",
            },
            recordingMeter: false,
            configure: b => b.AddSunaivaDatabase("kerneldb", typeof(MeteringTests).Assembly));
        await kernel.Services.GetRequiredService<DatabaseMigrator>().RunAsync(CancellationToken.None);
        await kernel.Host.StartAsync();
        var writer = kernel.Services.GetRequiredService<UsageLedgerWriter>();
        await using var connection = new NpgsqlConnection(servers.PostgresConnectionString(database));

        await kernel.EchoAsync("one");
        await kernel.EchoAsync("two");
        // The writer took the first row and waits out the interval (a minute) for more: nothing is written yet.
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        Assert.Equal(0, writer.Processed);
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM usage_ledger"));

        // A flush does not wait for the interval's end: both rows at once.
        await writer.FlushAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM usage_ledger"));

        // The next spell gathers again, and the service's stop writes what waits.
        await kernel.EchoAsync("three");
        await kernel.Host.StopAsync();
        Assert.Equal(3, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM usage_ledger"));
    }

    [Fact]
    public async Task Cache_hits_are_metered_with_the_cost_they_saved()
    {
        var database = LocalServers.NewDatabaseName("kernel");
        using var kernel = new KernelHost(
            new Dictionary<string, string?> { ["ConnectionStrings:kerneldb"] = servers.PostgresConnectionString(database) },
            recordingMeter: false,
            configure: b => b.AddSunaivaDatabase("kerneldb", typeof(MeteringTests).Assembly));
        await kernel.Services.GetRequiredService<DatabaseMigrator>().RunAsync(CancellationToken.None);
        await kernel.Host.StartAsync();
        var cache = kernel.Services.GetRequiredService<ProviderCache>();

        var produced = 0;
        for (var i = 0; i < 3; i++)
        {
            var value = await cache.GetOrCreateAsync("echo", "greeting", async ct =>
            {
                produced++;
                var result = await kernel.EchoAsync("hello", cancellationToken: ct);
                return new CachedAnswer<string>(result.Value, result.Provider, "characters", 5);
            }, CancellationToken.None, tags: ["greetings"]);
            Assert.Equal("primary:hello", value);
        }

        await kernel.Services.GetRequiredService<UsageLedgerWriter>().FlushAsync(CancellationToken.None);
        await using var connection = new NpgsqlConnection(servers.PostgresConnectionString(database));
        var (hits, misses, saved) = await connection.QuerySingleAsync<(long, long, decimal)>(
            "SELECT count(*) FILTER (WHERE hit), count(*) FILTER (WHERE NOT hit), sum(saved_usd) FROM cache_ledger");

        Assert.Equal(1, produced);
        Assert.Equal((2L, 1L, 0.01m), (hits, misses, saved));
        Assert.Equal(1, await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM usage_ledger"));

        await cache.InvalidateAsync("greetings", CancellationToken.None);
        await cache.GetOrCreateAsync("echo", "greeting", async ct =>
        {
            produced++;
            var result = await kernel.EchoAsync("hello", cancellationToken: ct);
            return new CachedAnswer<string>(result.Value, result.Provider, "characters", 5);
        }, CancellationToken.None, tags: ["greetings"]);
        Assert.Equal(2, produced);
        await kernel.Host.StopAsync();
    }

    [Fact]
    public async Task Shared_cache_answers_a_second_service_instance_from_Redis_without_calling_the_provider()
    {
        var settings = new Dictionary<string, string?> { ["ConnectionStrings:redis"] = servers.RedisConnectionString };
        using var first = new KernelHost(settings, configure: b => b.AddSunaivaRedis());
        using var second = new KernelHost(settings, configure: b => b.AddSunaivaRedis());
        var key = "catalog-" + Guid.NewGuid().ToString("N");

        async Task<string> ReadAsync(KernelHost kernel) => await kernel.Services.GetRequiredService<ProviderCache>().GetOrCreateAsync("echo", key, async ct =>
        {
            var result = await kernel.EchoAsync("catalog", cancellationToken: ct);
            return new CachedAnswer<string>(result.Value, result.Provider, "characters", 7);
        }, CancellationToken.None);

        Assert.Equal("primary:catalog", await ReadAsync(first));

        // HybridCache writes the second level in the background: wait until Redis holds the entry.
        var redis = second.Services.GetRequiredService<Microsoft.Extensions.Caching.Distributed.IDistributedCache>();
        for (var i = 0; i < 500 && await redis.GetAsync("echo:" + key) is null; i++)
        {
            await Task.Delay(10);
        }

        Assert.NotNull(await redis.GetAsync("echo:" + key));
        Assert.Equal("primary:catalog", await ReadAsync(second));

        Assert.Equal(1, first.Primary.Calls);
        Assert.Equal(0, second.Primary.Calls);
    }

    private static long SumLong(List<MetricSnapshot> exported, string name, (string Key, string Value)? tag = null) =>
        Points(exported, name, tag).Sum(p => p.GetSumLong());

    private static double SumDouble(List<MetricSnapshot> exported, string name) => Points(exported, name, null).Sum(p => p.GetSumDouble());

    private static long HistogramCount(List<MetricSnapshot> exported, string name) => Points(exported, name, null).Sum(p => p.GetHistogramCount());

    private static List<MetricPoint> Points(List<MetricSnapshot> exported, string name, (string Key, string Value)? tag)
    {
        // Cumulative temporality: the last snapshot of an instrument holds the totals.
        var snapshot = exported.LastOrDefault(m => m.Name == name);
        if (snapshot is null)
        {
            return [];
        }

        return snapshot.MetricPoints.Where(p =>
        {
            if (tag is not { } t)
            {
                return true;
            }

            foreach (var kv in p.Tags)
            {
                if (kv.Key == t.Key && Equals(kv.Value, t.Value))
                {
                    return true;
                }
            }

            return false;
        }).ToList();
    }
}
