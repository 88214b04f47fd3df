using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Sunaiva.ServiceDefaults;
using Sunaiva;
using Sunaiva.Integration;

// Figures for the integration kernel (issues 3 and 7): overhead of chain + metering around a no-op adapter, and
// how fast an outage of the first provider is routed around; a hang is measured against the capability's latency
// budget. Run: dotnet run -c Release --project bench/Sunaiva.Bench.Kernel
if (OperatingSystem.IsLinux())
{
    // One core: the figures are per core, and the machine is shared.
    Process.GetCurrentProcess().ProcessorAffinity = 1;
}

const int Warmup = 50_000;
const int Samples = 300_000;

using var overheadKernel = Kernel.Create(attemptTimeout: "00:00:10");
using var metrics = Sdk.CreateMeterProviderBuilder().AddMeter(IntegrationTelemetry.MeterNameFor("bench")).AddInMemoryExporter(new List<MetricSnapshot>()).Build();
await overheadKernel.Host.StartAsync();

var adapter = overheadKernel.Primary;
var chain = overheadKernel.Chain;
var operation = new ProviderOperation("noop", "api-calls");

var direct = await Measure(async () => await adapter.CallAsync(CancellationToken.None));
var kernel = await Measure(async () => await chain.ExecuteAsync(operation, static (a, c, ct) => { c.Units = 1; return a.CallAsync(ct); }, CancellationToken.None));

Console.WriteLine($"timer resolution: {1e9 / Stopwatch.Frequency:0.#} ns");
Console.WriteLine($"cores used: 1 (affinity), samples: {Samples:N0} after {Warmup:N0} warm-up calls");
Console.WriteLine($"direct call (no kernel): p50 {direct.P50:0.000} us, p99 {direct.P99:0.000} us, {direct.PerSecond:N0} calls/s");
Console.WriteLine($"chain + metering:        p50 {kernel.P50:0.000} us, p99 {kernel.P99:0.000} us, {kernel.PerSecond:N0} calls/s");
Console.WriteLine($"kernel overhead: p50 +{kernel.P50 - direct.P50:0.000} us, p99 +{kernel.P99 - direct.P99:0.000} us, throughput ratio direct/kernel {direct.PerSecond / kernel.PerSecond:0.0}x");
await overheadKernel.Services.GetRequiredService<UsageLedgerWriter>().FlushAsync(CancellationToken.None);
await overheadKernel.Host.StopAsync();

// Outages under 100 calls/s of open-loop traffic after 10 s of healthy traffic (a full sampling window),
// default breaker (failure ratio 0.5, minimum throughput 5, 10 s sampling, 30 s break).
await Outage("fast errors (connection refused / 5xx)", hang: false);
await Outage("hang (provider stops answering; 10 s attempt timeout, 2 s latency budget)", hang: true);

static async Task<(double P50, double P99, double PerSecond)> Measure(Func<ValueTask> call)
{
    for (var i = 0; i < Warmup; i++)
    {
        await call();
    }

    var samples = new double[Samples];
    var total = Stopwatch.StartNew();
    for (var i = 0; i < Samples; i++)
    {
        var start = Stopwatch.GetTimestamp();
        await call();
        samples[i] = (Stopwatch.GetTimestamp() - start) * 1_000_000.0 / Stopwatch.Frequency;
    }

    total.Stop();
    Array.Sort(samples);
    return (samples[Samples / 2], samples[(int)(Samples * 0.99)], Samples / total.Elapsed.TotalSeconds);
}

static async Task Outage(string name, bool hang)
{
    using var k = Kernel.Create(attemptTimeout: "00:00:10");
    await k.Host.StartAsync();
    var runtime = k.Services.GetRequiredService<IntegrationRuntime>();
    var budget = k.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<IntegrationOptions>>().Value.Capabilities["noop"].LatencyBudget;
    var op = new ProviderOperation("noop", "api-calls");
    var calls = new List<Task<(long Started, long Ended, ChainResult<int>? Result)>>();
    using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
    long outageAt = 0;
    long openAt = 0;
    var clock = Stopwatch.StartNew();

    async Task<(long, long, ChainResult<int>?)> One()
    {
        var started = clock.ElapsedTicks;
        try
        {
            var r = await k.Chain.ExecuteAsync(op, static (a, c, ct) => a.CallAsync(ct), CancellationToken.None);
            return (started, clock.ElapsedTicks, r);
        }
        catch (ProviderChainException)
        {
            return (started, clock.ElapsedTicks, null);
        }
    }

    var healthy = TimeSpan.FromSeconds(10);
    var end = healthy + TimeSpan.FromSeconds(hang ? 13 : 11);
    while (clock.Elapsed < end && await timer.WaitForNextTickAsync())
    {
        if (outageAt == 0 && clock.Elapsed > healthy)
        {
            k.Primary.Down(hang);
            outageAt = clock.ElapsedTicks;
        }

        if (outageAt != 0 && openAt == 0 && runtime.Snapshot().Any(h => h.Provider == "primary" && h.Circuit == "open"))
        {
            openAt = clock.ElapsedTicks;
        }

        calls.Add(One());
    }

    var done = await Task.WhenAll(calls);
    double Ms(long ticks) => (ticks - outageAt) * 1000.0 / Stopwatch.Frequency;
    var after = done.Where(c => c.Started >= outageAt).ToList();
    var firstFallback = after.Where(c => c.Result?.Provider == "backup").Select(c => c.Ended).DefaultIfEmpty(long.MaxValue).Min();
    var lastTouchingPrimary = done.Where(c => c.Result is { } r && r.Attempts.Any(a => a.Provider == "primary" && a.Outcome is CallOutcome.Error or CallOutcome.Timeout)).Select(c => c.Ended).DefaultIfEmpty(outageAt).Max();
    var failed = done.Count(c => c.Result is null);
    Console.WriteLine($"outage [{name}]: {after.Count} calls after the outage began, {failed} unanswered");
    Console.WriteLine($"  outage -> first answer from the fallback: {Ms(firstFallback):0.0} ms");
    Console.WriteLine($"  outage -> circuit open: {(openAt == 0 ? "never" : $"{Ms(openAt):0.0} ms")}");
    Console.WriteLine($"  outage -> traffic fully served by the fallback (last call that waited on the primary answered): {Ms(lastTouchingPrimary):0.0} ms");
    if (hang)
    {
        var firstAnswer = Ms(firstFallback);
        var longestWait = after.Where(c => c.Result is not null).Select(c => (c.Ended - c.Started) * 1000.0 / Stopwatch.Frequency).DefaultIfEmpty(0).Max();
        Console.WriteLine($"  latency budget {budget.TotalMilliseconds:0} ms: first answer from the fallback {firstAnswer:0.0} ms after the hang began "
            + $"(budget {(firstAnswer >= budget.TotalMilliseconds ? "+" : "-")}{Math.Abs(firstAnswer - budget.TotalMilliseconds):0.0} ms; without a budget: the 10 s attempt timeout)");
        Console.WriteLine($"  longest any caller waited for an answer during the hang: {longestWait:0.0} ms (budget {budget.TotalMilliseconds:0} ms)");
    }

    await k.Host.StopAsync();
}

/// <summary>A no-op adapter that can be taken down.</summary>
internal sealed class NoopAdapter(string provider) : IProviderAdapter
{
    private volatile int _mode;

    public string Provider { get; } = provider;

    public void Down(bool hang) => _mode = hang ? 2 : 1;

    public ValueTask<int> CallAsync(CancellationToken cancellationToken) => _mode switch
    {
        0 => ValueTask.FromResult(1),
        1 => ValueTask.FromException<int>(new HttpRequestException("down", null, System.Net.HttpStatusCode.ServiceUnavailable)),
        _ => HangAsync(cancellationToken),
    };

    private static async ValueTask<int> HangAsync(CancellationToken cancellationToken)
    {
        await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        return 1;
    }
}

internal sealed class Kernel : IDisposable
{
    private Kernel(IHost host, NoopAdapter primary)
    {
        Host = host;
        Primary = primary;
    }

    public IHost Host { get; }

    public NoopAdapter Primary { get; }

    public IServiceProvider Services => Host.Services;

    public ProviderChain<NoopAdapter> Chain => Services.GetRequiredService<ProviderChain<NoopAdapter>>();

    public static Kernel Create(string attemptTimeout)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "Sunaiva.Bench", DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Integration:Capabilities:noop:Adapters:0"] = "primary",
            ["Integration:Capabilities:noop:Adapters:1"] = "backup",
            ["Integration:Capabilities:noop:LatencyBudget"] = "00:00:02",
            ["Integration:Providers:primary:AttemptTimeout"] = attemptTimeout,
            ["Integration:Providers:primary:Prices:api-calls:UsdPerUnit"] = "0.0001",
            ["Integration:Providers:primary:Prices:api-calls:Source"] = "bench",
            ["Integration:Providers:primary:Prices:api-calls:Date"] = "2026-11-01",
        });
        builder.Services.AddSingleton(new ServiceIdentity("bench", "0.0.0"));
        builder.Services.AddLogging();
        builder.AddIntegrationKernel();
        var primary = new NoopAdapter("primary");
        builder.Services.AddProviderChain<NoopAdapter>("noop").AddAdapter(_ => primary).AddAdapter(_ => new NoopAdapter("backup"));
        return new Kernel(builder.Build(), primary);
    }

    public void Dispose() => Host.Dispose();
}
