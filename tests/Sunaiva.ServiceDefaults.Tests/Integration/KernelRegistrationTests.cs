using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Sunaiva.ServiceDefaults.Integration;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

public sealed class KernelRegistrationTests
{
    [Fact]
    public void Ledger_meter_wins_over_the_activity_only_meter_whichever_registers_first()
    {
        using var kernel = new KernelHost(recordingMeter: false, configure: b => b.Services.AddHttpClient("drive").AddProviderMetering("files", "google-drive"));

        Assert.IsType<LedgerMeter>(kernel.Services.GetRequiredService<IIntegrationMeter>());
    }

    [Fact]
    public async Task Invalid_price_book_stops_the_service_at_start_and_names_the_key()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?>
        {
            ["Integration:Providers:primary:Prices:characters:Source"] = "",
        });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => kernel.Host.StartAsync());

        Assert.Contains("Integration:Providers:primary:Prices:characters", error.Message);
    }

    [Fact]
    public async Task Chaos_outage_from_configuration_sends_calls_to_the_next_adapter_from_the_start()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?> { ["Integration:Providers:primary:Chaos:Outage"] = "true" });

        var result = await kernel.EchoAsync("x");

        Assert.Equal(("backup", true), (result.Provider, result.Degraded));
        Assert.Equal(0, kernel.Primary.Calls);
        Assert.Equal("chaos fault", result.Attempts[0].Error);
    }

    [Fact]
    public async Task Chaos_latency_beyond_the_attempt_timeout_becomes_a_timeout_and_a_fallback()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?>
        {
            ["Integration:Providers:primary:Chaos:LatencyRate"] = "1",
            ["Integration:Providers:primary:Chaos:Latency"] = "00:00:15",
            ["Integration:Capabilities:echo:Deadline"] = "00:05:00",
        });

        var call = kernel.EchoAsync("x");
        // The chaos delay is a timer on the fake clock; the attempt timeout (10 s) fires first.
        while (!call.IsCompleted)
        {
            kernel.Time.Advance(TimeSpan.FromSeconds(1));
            await Task.Yield();
            if (kernel.Time.GetUtcNow() > new DateTimeOffset(2026, 11, 25, 12, 1, 0, TimeSpan.Zero))
            {
                break;
            }
        }

        var result = await call;
        Assert.Equal("backup", result.Provider);
        Assert.Equal(CallOutcome.Timeout, result.Attempts[0].Outcome);
        Assert.Equal(0, kernel.Primary.Calls);
    }

    [Fact]
    public async Task Chaos_set_at_run_time_applies_to_the_next_call_and_reset_restores_configuration()
    {
        using var kernel = new KernelHost();
        var chaos = kernel.Services.GetRequiredService<ChaosControl>();

        chaos.Set("primary", new ChaosSettings { Outage = true });
        Assert.Equal("backup", (await kernel.EchoAsync("a")).Provider);

        chaos.Reset();
        Assert.Equal("primary", (await kernel.EchoAsync("b")).Provider);
        Assert.False(chaos.Current["primary"].Active);
    }
}
