using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Ops;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

public sealed class ProviderChainTests
{
    [Fact]
    public async Task Healthy_first_adapter_serves_and_the_answer_is_not_degraded()
    {
        using var kernel = new KernelHost();

        var result = await kernel.EchoAsync("hello");

        Assert.Equal("primary:hello", result.Value);
        Assert.Equal("primary", result.Provider);
        Assert.Equal(1, result.AdaptersTried);
        Assert.False(result.Degraded);
        Assert.Equal(0, kernel.Backup.Calls);
        var call = Assert.Single(kernel.Meter.Calls);
        Assert.Equal(("echo", "primary", "echo", "characters", 5m, CallOutcome.Ok), (call.Capability, call.Provider, call.Operation, call.Unit, call.Units, call.Outcome));
    }

    [Fact]
    public async Task Failing_first_adapter_falls_back_to_the_second_and_marks_the_answer_degraded()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Fail();

        var result = await kernel.EchoAsync("hello");

        Assert.Equal("backup:hello", result.Value);
        Assert.Equal("backup", result.Provider);
        Assert.Equal(2, result.AdaptersTried);
        Assert.True(result.Degraded);
        Assert.Equal([CallOutcome.Error, CallOutcome.Fallback], kernel.Meter.Calls.Select(c => c.Outcome));
        Assert.Equal("HTTP 502", kernel.Meter.Calls[0].Error);

        var http = new DefaultHttpContext();
        http.Response.MarkDegraded(result);
        Assert.Equal("backup", http.Response.Headers[IntegrationKernelExtensions.DegradedHeader].ToString());
    }

    [Fact]
    public async Task Answer_served_by_the_first_adapter_carries_no_degraded_header()
    {
        using var kernel = new KernelHost();
        var result = await kernel.EchoAsync("hi");

        var http = new DefaultHttpContext();
        http.Response.MarkDegraded(result);

        Assert.False(http.Response.Headers.ContainsKey(IntegrationKernelExtensions.DegradedHeader));
    }

    [Fact]
    public async Task Circuit_opens_after_N_failures_and_the_first_adapter_is_not_called_until_the_break_ends()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Fail();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("backup:x", (await kernel.EchoAsync("x")).Value);
        }

        Assert.Equal(3, kernel.Primary.Calls);
        Assert.Equal("open", Health(kernel, "primary").Circuit);

        var whileOpen = await kernel.EchoAsync("y");
        Assert.Equal("backup:y", whileOpen.Value);
        Assert.Equal(3, kernel.Primary.Calls);
        Assert.Equal(CallOutcome.CircuitOpen, whileOpen.Attempts[0].Outcome);
        Assert.Equal(CallOutcome.CircuitOpen, kernel.Meter.Calls[^2].Outcome);

        // The break lasts 30 s: at 29 s the primary is still skipped, after 30 s it gets a trial call.
        kernel.Time.Advance(TimeSpan.FromSeconds(29));
        await kernel.EchoAsync("z");
        Assert.Equal(3, kernel.Primary.Calls);

        kernel.Primary.Succeed();
        kernel.Time.Advance(TimeSpan.FromSeconds(2));
        var recovered = await kernel.EchoAsync("w");
        Assert.Equal(4, kernel.Primary.Calls);
        Assert.Equal("primary:w", recovered.Value);
        Assert.Equal("closed", Health(kernel, "primary").Circuit);
    }

    [Fact]
    public async Task Deadline_cuts_a_slow_chain_and_the_next_adapter_is_not_started()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?> { ["Integration:Capabilities:echo:Deadline"] = "00:00:03" });
        kernel.Primary.Behavior = async (text, ct) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return text;
        };

        var call = kernel.EchoAsync("slow");
        await kernel.Primary.Started.Task;
        kernel.Time.Advance(TimeSpan.FromSeconds(3));

        var error = await Assert.ThrowsAsync<ProviderChainException>(() => call);
        Assert.True(error.DeadlineExceeded);
        Assert.Equal(0, kernel.Backup.Calls);
        Assert.Equal(CallOutcome.Timeout, Assert.Single(kernel.Meter.Calls).Outcome);
    }

    [Fact]
    public async Task Attempt_timeout_moves_a_hung_adapter_to_the_next_one()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Behavior = async (text, ct) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return text;
        };

        var call = kernel.EchoAsync("hung");
        await kernel.Primary.Started.Task;
        kernel.Time.Advance(TimeSpan.FromSeconds(10));

        var result = await call;
        Assert.Equal("backup", result.Provider);
        Assert.Equal([CallOutcome.Timeout, CallOutcome.Fallback], kernel.Meter.Calls.Select(c => c.Outcome));
    }

    [Fact]
    public async Task Attempts_hung_on_a_provider_fall_back_at_once_when_its_circuit_opens()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Behavior = async (text, ct) =>
        {
            if (text == "hang")
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            }

            throw new HttpRequestException("down", null, System.Net.HttpStatusCode.ServiceUnavailable);
        };

        var hung = kernel.EchoAsync("hang");
        await kernel.Primary.Started.Task;
        for (var i = 0; i < 3; i++)
        {
            await kernel.EchoAsync("x");
        }

        // No time has passed: the hung attempt was abandoned when the breaker opened, not cut by its 10 s timeout.
        var result = await hung;
        Assert.Equal("backup:hang", result.Value);
        Assert.Equal("open", Health(kernel, "primary").Circuit);
        Assert.Equal(kernel.Time.GetUtcNow(), new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public async Task Non_idempotent_operation_is_never_retried()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?> { ["Integration:Providers:primary:Retry:MaxRetries"] = "2" });
        kernel.Primary.Fail();

        var result = await kernel.EchoAsync("send", idempotent: false);

        Assert.Equal(1, kernel.Primary.Calls);
        Assert.Equal("backup", result.Provider);
    }

    [Fact]
    public async Task Idempotent_operation_is_retried_on_the_same_adapter_before_falling_back()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?> { ["Integration:Providers:primary:Retry:MaxRetries"] = "2" });
        kernel.Primary.Fail();

        var result = await kernel.EchoAsync("read", idempotent: true);

        Assert.Equal(3, kernel.Primary.Calls);
        Assert.Equal("backup", result.Provider);
        Assert.Equal([CallOutcome.Error, CallOutcome.Error, CallOutcome.Error, CallOutcome.Fallback], kernel.Meter.Calls.Select(c => c.Outcome));
    }

    [Fact]
    public async Task Streaming_operation_survives_30_seconds_that_the_attempt_timeout_would_cut()
    {
        using var kernel = new KernelHost();
        var timerSet = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        kernel.Primary.Behavior = async (text, ct) =>
        {
            var stream = Task.Delay(TimeSpan.FromSeconds(30), kernel.Time, ct);
            timerSet.SetResult();
            await stream;
            return text;
        };

        var stream = kernel.EchoAsync("stream", streaming: true);
        await timerSet.Task;
        for (var second = 0; second < 30; second++)
        {
            kernel.Time.Advance(TimeSpan.FromSeconds(1));
        }

        var result = await stream;
        Assert.Equal("primary:stream", result.Value);
        Assert.False(result.Degraded);
        Assert.Equal(CallOutcome.Ok, Assert.Single(kernel.Meter.Calls).Outcome);
    }

    [Fact]
    public async Task Same_30_second_call_without_streaming_is_cut_by_the_10_second_attempt_timeout()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Behavior = async (text, ct) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(30), kernel.Time, ct);
            return text;
        };

        var call = kernel.EchoAsync("stream", streaming: false);
        await kernel.Primary.Started.Task;
        kernel.Time.Advance(TimeSpan.FromSeconds(10));

        var result = await call;
        Assert.Equal("backup", result.Provider);
        Assert.Equal(CallOutcome.Timeout, kernel.Meter.Calls[0].Outcome);
    }

    [Fact]
    public async Task Throttling_honours_Retry_After_and_never_opens_the_circuit()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Behavior = (_, _) => throw new ProviderThrottledException("primary", TimeSpan.FromSeconds(20));

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("backup", (await kernel.EchoAsync("x")).Provider);
        }

        // Called once, then left alone for the 20 s the provider asked for; throttling is not a failure.
        Assert.Equal(1, kernel.Primary.Calls);
        Assert.All(kernel.Meter.Calls.Where(c => c.Provider == "primary"), c => Assert.Equal(CallOutcome.Throttled, c.Outcome));
        Assert.Equal("closed", Health(kernel, "primary").Circuit);

        kernel.Primary.Succeed();
        kernel.Time.Advance(TimeSpan.FromSeconds(21));
        Assert.Equal("primary", (await kernel.EchoAsync("x")).Provider);
        Assert.Equal(2, kernel.Primary.Calls);
    }

    [Fact]
    public async Task Http_429_from_a_metered_client_inside_a_chain_is_one_throttled_row_that_honours_Retry_After()
    {
        var status = System.Net.HttpStatusCode.TooManyRequests;
        using var kernel = new KernelHost(configure: b => b.Services.AddHttpClient("primary-api")
            .ConfigurePrimaryHttpMessageHandler(() => new StubHandler(() =>
            {
                var response = new HttpResponseMessage(status);
                if (status == System.Net.HttpStatusCode.TooManyRequests)
                {
                    response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(7));
                }

                return response;
            }))
            .AddProviderMetering("echo", "primary"));
        var http = kernel.Services.GetRequiredService<IHttpClientFactory>();
        kernel.Primary.Behavior = async (text, ct) =>
        {
            using var client = http.CreateClient("primary-api");
            using var response = await client.GetAsync(new Uri("http://primary.test/v1/echo"), ct);
            response.EnsureSuccessStatusCode();
            return text;
        };

        var first = await kernel.EchoAsync("x");
        Assert.Equal("backup", first.Provider);
        Assert.Equal([("primary", CallOutcome.Throttled), ("backup", CallOutcome.Fallback)], kernel.Meter.Calls.Select(c => (c.Provider, c.Outcome)));

        kernel.Time.Advance(TimeSpan.FromSeconds(6));
        await kernel.EchoAsync("x");
        Assert.Equal(1, kernel.Primary.Calls);

        status = System.Net.HttpStatusCode.OK;
        kernel.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("primary", (await kernel.EchoAsync("x")).Provider);
        Assert.Equal("closed", Health(kernel, "primary").Circuit);
    }

    [Fact]
    public async Task Metered_http_client_outside_a_chain_records_one_api_call_per_request()
    {
        using var kernel = new KernelHost(configure: b => b.Services.AddHttpClient("plain")
            .ConfigurePrimaryHttpMessageHandler(() => new StubHandler(() => new HttpResponseMessage(System.Net.HttpStatusCode.OK)))
            .AddProviderMetering("files", "google-drive"));
        using var client = kernel.Services.GetRequiredService<IHttpClientFactory>().CreateClient("plain");

        using (MeteringContext.ForUser("ada"))
        {
            (await client.GetAsync(new Uri("http://drive.test/drive/v3/files/1AbCdEf123456"))).EnsureSuccessStatusCode();
        }

        var call = Assert.Single(kernel.Meter.Calls);
        Assert.Equal(("files", "google-drive", "GET /drive/v3/files", "api-calls", 1m, CallOutcome.Ok, "ada"),
            (call.Capability, call.Provider, call.Operation, call.Unit, call.Units, call.Outcome, call.UserId));
    }

    [Fact]
    public async Task Client_side_rate_limit_refuses_before_the_provider_does_and_the_next_adapter_serves()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?>
        {
            ["Integration:Providers:primary:Limits:0:Name"] = "requests",
            ["Integration:Providers:primary:Limits:0:Unit"] = "requests",
            ["Integration:Providers:primary:Limits:0:Permits"] = "2",
            ["Integration:Providers:primary:Limits:0:Window"] = "01:00:00",
            ["Integration:Providers:primary:Limits:0:QueueLimit"] = "0",
            ["Integration:Providers:primary:Limits:0:Source"] = "test",
            ["Integration:Providers:primary:Limits:0:Date"] = "2026-11-01",
        });

        var providers = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            providers.Add((await kernel.EchoAsync("x")).Provider);
        }

        Assert.Equal(["primary", "primary", "backup"], providers);
        Assert.Equal(2, kernel.Primary.Calls);
        Assert.Equal(CallOutcome.Throttled, kernel.Meter.Calls[2].Outcome);
    }

    [Fact]
    public async Task Per_user_rate_limit_counts_each_user_separately()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?>
        {
            ["Integration:Providers:primary:Limits:0:Name"] = "per user",
            ["Integration:Providers:primary:Limits:0:Unit"] = "requests",
            ["Integration:Providers:primary:Limits:0:Permits"] = "1",
            ["Integration:Providers:primary:Limits:0:Window"] = "01:00:00",
            ["Integration:Providers:primary:Limits:0:PerUser"] = "true",
            ["Integration:Providers:primary:Limits:0:QueueLimit"] = "0",
            ["Integration:Providers:primary:Limits:0:Source"] = "test",
            ["Integration:Providers:primary:Limits:0:Date"] = "2026-11-01",
        });

        string Served(string user)
        {
            using (MeteringContext.ForUser(user))
            {
                return kernel.EchoAsync("x").GetAwaiter().GetResult().Provider;
            }
        }

        Assert.Equal("primary", await Task.Run(() => Served("ada")));
        Assert.Equal("backup", await Task.Run(() => Served("ada")));
        Assert.Equal("primary", await Task.Run(() => Served("bob")));
        Assert.Equal(["ada", "ada", "ada", "bob"], kernel.Meter.Calls.Select(c => c.UserId));
    }

    [Fact]
    public async Task Unavailable_adapter_is_skipped_without_a_call_or_a_ledger_row()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Available = false;

        var result = await kernel.EchoAsync("x");

        Assert.Equal("backup", result.Provider);
        Assert.False(result.Degraded);
        Assert.Equal(0, kernel.Primary.Calls);
        Assert.Equal(CallOutcome.Ok, Assert.Single(kernel.Meter.Calls).Outcome);
    }

    [Fact]
    public async Task When_every_adapter_fails_the_chain_throws_with_every_attempt()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Fail();
        kernel.Backup.Fail();

        var error = await Assert.ThrowsAsync<ProviderChainException>(() => kernel.EchoAsync("x"));

        Assert.False(error.DeadlineExceeded);
        Assert.Equal(["primary", "backup"], error.Attempts.Select(a => a.Provider));
    }

    [Fact]
    public async Task Chain_order_comes_from_configuration()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?>
        {
            ["Integration:Capabilities:echo:Adapters:0"] = "backup",
            ["Integration:Capabilities:echo:Adapters:1"] = "primary",
        });

        var result = await kernel.EchoAsync("x");

        Assert.Equal("backup", result.Provider);
        Assert.Equal(["backup", "primary"], kernel.Chain.Adapters.Select(a => a.Provider));
    }

    [Fact]
    public async Task Ops_status_reports_circuit_state_error_rate_and_last_error_of_each_adapter()
    {
        using var kernel = new KernelHost();
        kernel.Primary.Fail();
        for (var i = 0; i < 3; i++)
        {
            await kernel.EchoAsync("x");
        }

        var statuses = kernel.Services.GetServices<IProviderStatusSource>().SelectMany(s => s.GetStatuses()).ToList();

        var primary = Assert.Single(statuses, s => s.Provider == "primary");
        Assert.Equal(("echo", "open"), (primary.Capability, primary.State));
        Assert.Contains("error rate 100%", primary.Detail);
        Assert.Contains("HTTP 502", primary.Detail);
        Assert.Equal("closed", Assert.Single(statuses, s => s.Provider == "backup").State);
    }

    private sealed class StubHandler(Func<HttpResponseMessage> respond) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => Task.FromResult(respond());
    }

    private static AdapterHealth Health(KernelHost kernel, string provider) =>
        kernel.Services.GetRequiredService<IntegrationRuntime>().Snapshot().Single(h => h.Provider == provider);
}
