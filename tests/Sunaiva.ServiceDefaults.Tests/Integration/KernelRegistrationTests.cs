using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Sunaiva.Integration;

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

public sealed class StreamingHttpClientTests
{
    [Fact]
    public async Task Streaming_http_client_keeps_a_30_second_response_that_the_standard_handler_cuts_at_10_seconds()
    {
        var standardTimer = new SemaphoreSlim(0);
        var streamingTimer = new SemaphoreSlim(0);
        FakeTimeProvider? time = null;
        using var kernel = new KernelHost(configure: b =>
        {
            // As AddServiceDefaults does for every client.
            b.Services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler(o => o.Retry.DisableForUnsafeHttpMethods()));
            b.Services.AddHttpClient("standard").ConfigurePrimaryHttpMessageHandler(() => new SlowHandler(() => time!, standardTimer));
            b.Services.AddHttpClient("stream").AsStreamingClient().ConfigurePrimaryHttpMessageHandler(() => new SlowHandler(() => time!, streamingTimer));
        });
        time = kernel.Time;
        var clients = kernel.Services.GetRequiredService<IHttpClientFactory>();

        using var standard = clients.CreateClient("standard");
        var cut = standard.PostAsync(new Uri("http://provider.test/v1/renders"), null);
        await standardTimer.WaitAsync();
        kernel.Time.Advance(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<Polly.Timeout.TimeoutRejectedException>(() => cut);

        using var streaming = clients.CreateClient("stream");
        var kept = streaming.PostAsync(new Uri("http://provider.test/v1/renders"), null);
        await streamingTimer.WaitAsync();
        for (var second = 0; second < 30; second++)
        {
            kernel.Time.Advance(TimeSpan.FromSeconds(1));
        }

        using var response = await kept;
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>A provider that answers after 30 s (of fake time), as a long render or a stream that has not finished would.</summary>
    private sealed class SlowHandler(Func<FakeTimeProvider> time, SemaphoreSlim timerSet) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var delay = Task.Delay(TimeSpan.FromSeconds(30), time(), cancellationToken);
            timerSet.Release();
            await delay;
            return new HttpResponseMessage(System.Net.HttpStatusCode.OK);
        }
    }
}
