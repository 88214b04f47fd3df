using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Ops;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

/// <summary>What a caller (and durable work) learns when a chain cannot serve, and what /ops/status shows of it.</summary>
public sealed class ChainFailureTests
{
    [Fact]
    public async Task Permanent_failure_is_metered_as_rejected_rethrown_unchanged_and_neither_fails_over_nor_opens_the_circuit()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?> { ["Integration:Providers:primary:Retry:MaxRetries"] = "2" });
        var refused = new PermanentFailureException("primary", "HTTP 422");
        kernel.Primary.Behavior = (_, _) => throw refused;

        for (var i = 0; i < 5; i++)
        {
            var error = await Assert.ThrowsAsync<PermanentFailureException>(() => kernel.EchoAsync("bad address", idempotent: true));
            Assert.Same(refused, error);
        }

        Assert.Equal((5, 0), (kernel.Primary.Calls, kernel.Backup.Calls));
        var health = Health(kernel, "primary");
        Assert.Equal(("closed", 0), (health.Circuit, health.Sampled));
        Assert.All(kernel.Meter.Calls, c => Assert.Equal((CallOutcome.Error, CallErrors.Rejected), (c.Outcome, c.Error)));

        // The provider itself is healthy: the next good input is served by it.
        kernel.Primary.Succeed();
        Assert.Equal("primary", (await kernel.EchoAsync("ok")).Provider);
    }

    [Fact]
    public async Task Every_circuit_open_makes_the_chain_unavailable_with_retry_after_the_rest_of_the_earliest_break()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?>
        {
            ["Integration:Providers:backup:CircuitBreaker:FailureRatio"] = "1.0",
            ["Integration:Providers:backup:CircuitBreaker:MinimumThroughput"] = "3",
            ["Integration:Providers:backup:CircuitBreaker:BreakDuration"] = "00:01:00",
        });
        kernel.Primary.Fail();
        kernel.Backup.Fail();
        for (var i = 0; i < 3; i++)
        {
            var failed = await Assert.ThrowsAsync<ProviderChainException>(() => kernel.EchoAsync("x"));
            Assert.False(failed.Unavailable);
        }

        kernel.Time.Advance(TimeSpan.FromSeconds(10));
        var error = await Assert.ThrowsAsync<ProviderChainException>(() => kernel.EchoAsync("x"));

        Assert.True(error.Unavailable);
        Assert.Equal(TimeSpan.FromSeconds(20), error.RetryAfter);
        Assert.Equal((3, 3), (kernel.Primary.Calls, kernel.Backup.Calls));
        Assert.All(error.Attempts, a => Assert.Equal(CallOutcome.CircuitOpen, a.Outcome));
    }

    [Fact]
    public async Task Every_adapter_throttled_makes_the_chain_unavailable_with_the_earliest_retry_after()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Behavior = (_, _) => throw new ProviderThrottledException("primary", TimeSpan.FromSeconds(8));
        kernel.Backup.Behavior = (_, _) => throw new ProviderThrottledException("backup", TimeSpan.FromSeconds(5));
        await Assert.ThrowsAsync<ProviderChainException>(() => kernel.EchoAsync("x"));

        kernel.Time.Advance(TimeSpan.FromSeconds(1));
        var error = await Assert.ThrowsAsync<ProviderChainException>(() => kernel.EchoAsync("x"));

        Assert.True(error.Unavailable);
        Assert.Equal(TimeSpan.FromSeconds(4), error.RetryAfter);
        Assert.Equal((1, 1), (kernel.Primary.Calls, kernel.Backup.Calls));
    }

    [Fact]
    public async Task Ops_status_shows_an_open_circuit_as_half_open_once_its_break_ended_and_closed_after_a_good_call()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Fail();
        for (var i = 0; i < 3; i++)
        {
            await kernel.EchoAsync("x");
        }

        var open = Status(kernel, "primary");
        Assert.Equal("open", open.State);
        Assert.Contains($"open until {kernel.Time.GetUtcNow().AddSeconds(30):O}", open.Detail);

        // No call reaches the primary after its 30 s break: Polly still holds "open" until one does.
        kernel.Time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal("half-open", Status(kernel, "primary").State);
        Assert.Equal("half-open", Health(kernel, "primary").Circuit);

        kernel.Primary.Succeed();
        Assert.Equal("primary", (await kernel.EchoAsync("y")).Provider);
        Assert.Equal("closed", Status(kernel, "primary").State);
    }

    [Fact]
    public async Task Hanging_first_adapter_costs_the_caller_the_latency_budget_not_the_attempt_timeout()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?>
        {
            ["Integration:Capabilities:echo:LatencyBudget"] = "00:00:02",
            ["Integration:Providers:primary:Retry:MaxRetries"] = "2",
        });
        kernel.Primary.Behavior = async (text, ct) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return text;
        };

        var call = kernel.EchoAsync("hung", idempotent: true);
        await kernel.Primary.Started.Task;
        kernel.Time.Advance(TimeSpan.FromSeconds(2));

        var result = await call;
        Assert.Equal(("backup", true), (result.Provider, result.Degraded));
        // Not retried on the same hung provider: the budget moves the call on.
        Assert.Equal(1, kernel.Primary.Calls);
        Assert.Equal([(CallOutcome.Timeout, CallErrors.LatencyBudget), (CallOutcome.Fallback, null)], kernel.Meter.Calls.Select(c => (c.Outcome, c.Error)));
        Assert.Equal(TimeSpan.FromSeconds(2), kernel.Meter.Calls[0].Duration);
    }

    [Fact]
    public async Task Last_adapter_is_not_cut_by_the_latency_budget()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?> { ["Integration:Capabilities:echo:LatencyBudget"] = "00:00:02" });
        kernel.Primary.Available = false;
        kernel.Backup.Behavior = async (text, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(5), kernel.Time, ct);
            return text;
        };

        var call = kernel.EchoAsync("slow");
        await kernel.Backup.Started.Task;
        kernel.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(call.IsCompleted);
        kernel.Time.Advance(TimeSpan.FromSeconds(3));

        Assert.Equal("backup:slow", (await call).Value);
    }

    private static ProviderStatus Status(KernelHost kernel, string provider) =>
        kernel.Services.GetServices<IProviderStatusSource>().SelectMany(s => s.GetStatuses()).Single(s => s.Provider == provider);

    private static AdapterHealth Health(KernelHost kernel, string provider) =>
        kernel.Services.GetRequiredService<IntegrationRuntime>().Snapshot().Single(h => h.Provider == provider);
}
