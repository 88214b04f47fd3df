using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;
using Sunaiva.ServiceDefaults;
using Sunaiva.Integration;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

/// <summary>A capability for tests: echoes text.</summary>
public interface IEcho : IProviderAdapter
{
    ValueTask<string> EchoAsync(string text, CancellationToken cancellationToken);
}

/// <summary>A scripted adapter: counts calls and behaves as the test says.</summary>
public sealed class FakeEcho(string provider) : IEcho
{
    private int _calls;

    public string Provider { get; } = provider;

    public int Calls => Volatile.Read(ref _calls);

    public bool Available { get; set; } = true;

    bool IProviderAdapter.IsAvailable => Available;

    /// <summary>What a call does; by default it answers "{provider}:{text}".</summary>
    public Func<string, CancellationToken, ValueTask<string>> Behavior { get; set; } = (text, _) => ValueTask.FromResult(text);

    /// <summary>Completes when a call has started (for tests that advance fake time while a call waits).</summary>
    public TaskCompletionSource Started { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask<string> EchoAsync(string text, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        Started.TrySetResult();
        var answer = await Behavior(text, cancellationToken);
        return $"{Provider}:{answer}";
    }

    public void Fail() => Behavior = (_, _) => throw new HttpRequestException("boom", null, System.Net.HttpStatusCode.BadGateway);

    public void Succeed() => Behavior = (text, _) => ValueTask.FromResult(text);

    public void ResetStarted() => Started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>Captures what the chain meters, in order.</summary>
public sealed class RecordingMeter : IIntegrationMeter
{
    private readonly List<MeteredCall> _calls = [];

    public IReadOnlyList<MeteredCall> Calls
    {
        get
        {
            lock (_calls)
            {
                return _calls.ToList();
            }
        }
    }

    public void Record(MeteredCall call)
    {
        lock (_calls)
        {
            _calls.Add(call);
        }
    }
}

/// <summary>The kernel alone (no web host), with fake time and two fake "echo" adapters: primary, then backup.</summary>
public sealed class KernelHost : IDisposable
{
    public const string Capability = "echo";
    public const string Operation = "echo";

    private readonly IHost _host;

    public KernelHost(IDictionary<string, string?>? settings = null, bool recordingMeter = true, Action<IHostApplicationBuilder>? configure = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ApplicationName = "Sunaiva.KernelTests", DisableDefaults = true });
        var config = new Dictionary<string, string?>
        {
            ["Integration:Capabilities:echo:Adapters:0"] = "primary",
            ["Integration:Capabilities:echo:Adapters:1"] = "backup",
            ["Integration:Capabilities:echo:Deadline"] = "00:00:20",
            // Longer than the deadline: tests of the attempt timeout and deadline are not cut by the budget; budget tests set it.
            ["Integration:Capabilities:echo:LatencyBudget"] = "00:01:00",
            ["Integration:Providers:primary:AttemptTimeout"] = "00:00:10",
            ["Integration:Providers:primary:Retry:MaxRetries"] = "0",
            ["Integration:Providers:primary:Retry:BaseDelay"] = "00:00:00",
            ["Integration:Providers:primary:CircuitBreaker:FailureRatio"] = "1.0",
            ["Integration:Providers:primary:CircuitBreaker:MinimumThroughput"] = "3",
            ["Integration:Providers:primary:CircuitBreaker:SamplingDuration"] = "00:00:30",
            ["Integration:Providers:primary:CircuitBreaker:BreakDuration"] = "00:00:30",
            ["Integration:Providers:primary:Prices:characters:UsdPerUnit"] = "0.001",
            ["Integration:Providers:primary:Prices:characters:Source"] = "test",
            ["Integration:Providers:primary:Prices:characters:Date"] = "2026-11-01",
            ["Integration:Providers:backup:Retry:MaxRetries"] = "0",
            ["Integration:Providers:backup:Prices:characters:UsdPerUnit"] = "0.0001",
            ["Integration:Providers:backup:Prices:characters:Source"] = "test",
            ["Integration:Providers:backup:Prices:characters:Date"] = "2026-11-01",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            config[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(config);
        builder.Services.AddSingleton(new ServiceIdentity("kerneltests", "0.0.0"));
        builder.Services.AddSingleton<TimeProvider>(Time);
        builder.Services.AddLogging();
        builder.AddIntegrationKernel();
        builder.Services.AddSingleton<ProviderCache>();
        if (recordingMeter)
        {
            builder.Services.Replace(ServiceDescriptor.Singleton<IIntegrationMeter>(Meter));
        }

        builder.Services.AddProviderChain<IEcho>(Capability)
            .AddAdapter(_ => Primary)
            .AddAdapter(_ => Backup);
        configure?.Invoke(builder);
        _host = builder.Build();
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    public FakeEcho Primary { get; } = new("primary");

    public FakeEcho Backup { get; } = new("backup");

    public RecordingMeter Meter { get; } = new();

    public IServiceProvider Services => _host.Services;

    public IHost Host => _host;

    public ProviderChain<IEcho> Chain => Services.GetRequiredService<ProviderChain<IEcho>>();

    /// <summary>One chain call that reports the text's length as characters.</summary>
    public Task<ChainResult<string>> EchoAsync(string text, bool idempotent = false, bool streaming = false, CancellationToken cancellationToken = default) =>
        Chain.ExecuteAsync(
            new ProviderOperation(Operation, "characters", idempotent, streaming),
            async (adapter, context, ct) =>
            {
                var answer = await adapter.EchoAsync(text, ct);
                context.Units = text.Length;
                return answer;
            },
            cancellationToken);

    public void Dispose() => _host.Dispose();
}
