using Amazon.S3;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Time.Testing;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Resilience;
using Sunaiva.ServiceDefaults.Storage;
using Sunaiva.ServiceDefaults.Tests.Integration;
using Sunaiva.Testing;

namespace Sunaiva.ServiceDefaults.Tests.Storage;

/// <summary>Object storage that accepts connections and never answers (a stopped process): the circuit turns waits into refusals.</summary>
public sealed class StorageCircuitTests : IAsyncLifetime
{
    private readonly HungServer _hung = new();

    public Task InitializeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Storage_that_never_answers_times_out_as_storage_then_the_open_circuit_refuses_without_connecting()
    {
        var meter = new RecordingMeter();
        var circuit = new StorageCircuit(attemptTimeout: TimeSpan.FromMilliseconds(300), breakDuration: TimeSpan.FromMinutes(5));
        var connection = new StorageConnection(new Uri($"http://127.0.0.1:{_hung.Port}"), "key", "secret", "us-east-1");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var s3 = StorageExtensions.CreateClient(connection, new MeteredAwsHttpClientFactory(meter, time, circuit));
        using var streaming = MeteredAwsHttpClientFactory.NewStreamingClient(meter, time, circuit);
        var streamedPut = new StreamingPut(s3, connection, streaming, time);

        var first = await Assert.ThrowsAnyAsync<Exception>(() => s3.ListBucketsAsync());
        var second = await Assert.ThrowsAnyAsync<Exception>(() => s3.ListBucketsAsync());
        var reached = _hung.Accepted;
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => s3.ListBucketsAsync());
        var refusedPut = await Assert.ThrowsAnyAsync<Exception>(() => streamedPut.PutAsync("bucket", "key", "text/plain", new ByteArrayContent(new byte[1024]), CancellationToken.None));

        // Each failure answers 503 naming storage, not 500.
        Assert.Equal(ResourceNames.Storage, DependencyUnavailableExceptionHandler.Classify(first));
        Assert.Equal(ResourceNames.Storage, DependencyUnavailableExceptionHandler.Classify(second));
        Assert.Equal(ResourceNames.Storage, DependencyUnavailableExceptionHandler.Classify(refused));
        Assert.Equal(ResourceNames.Storage, DependencyUnavailableExceptionHandler.Classify(refusedPut));
        Assert.True(IsRefusal(refused), refused.ToString());
        Assert.True(IsRefusal(refusedPut), refusedPut.ToString());
        Assert.Equal(reached, _hung.Accepted);
        Assert.Contains(meter.Calls, c => c.Capability == "storage" && c.Outcome == CallOutcome.Timeout);
        Assert.Equal(CallOutcome.CircuitOpen, meter.Calls[^1].Outcome);
    }

    [Fact]
    public async Task A_readiness_probe_of_storage_that_never_answers_counts_toward_opening_the_circuit_within_the_health_check_timeout()
    {
        // The circuit's own attempt timeout is far longer than the health check's: only the probe's deadline can open it.
        var meter = new RecordingMeter();
        var circuit = new StorageCircuit(attemptTimeout: TimeSpan.FromMinutes(5), breakDuration: TimeSpan.FromMinutes(5));
        var connection = new StorageConnection(new Uri($"http://127.0.0.1:{_hung.Port}"), "key", "secret", "us-east-1");
        using var s3 = StorageExtensions.CreateClient(connection, new MeteredAwsHttpClientFactory(meter, new FakeTimeProvider(DateTimeOffset.UtcNow), circuit));
        var check = new StorageHealthCheck(s3, circuit);

        // As the health-check service runs it: cancelled after the registration's timeout.
        using var healthCheckTimeout = new CancellationTokenSource(Microsoft.Extensions.Hosting.SunaivaServiceDefaults.HealthCheckTimeout);
        var report = await check.CheckHealthAsync(
            new HealthCheckContext { Registration = new HealthCheckRegistration(ResourceNames.Storage, check, null, null) }, healthCheckTimeout.Token);
        var reached = _hung.Accepted;

        // The next request, an upload's, is refused at once instead of waiting for storage.
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => s3.ListBucketsAsync(bounded.Token));

        Assert.Equal(HealthStatus.Unhealthy, report.Status);
        Assert.Contains("circuit is open", report.Description);
        Assert.False(healthCheckTimeout.IsCancellationRequested, "the probe should have failed before the health check gave it up");
        Assert.True(IsRefusal(refused), refused.ToString());
        Assert.Equal(reached, _hung.Accepted);
    }

    [Fact]
    public async Task The_one_request_that_tries_storage_again_after_a_break_waits_the_trial_timeout_not_a_whole_attempt()
    {
        var meter = new RecordingMeter();
        var circuit = new StorageCircuit(attemptTimeout: TimeSpan.FromMinutes(5), breakDuration: TimeSpan.FromMilliseconds(500), trialTimeout: TimeSpan.FromMilliseconds(500));
        var connection = new StorageConnection(new Uri($"http://127.0.0.1:{_hung.Port}"), "key", "secret", "us-east-1");
        using var s3 = StorageExtensions.CreateClient(connection, new MeteredAwsHttpClientFactory(meter, new FakeTimeProvider(DateTimeOffset.UtcNow), circuit));
        using (StorageCircuit.AttemptTimeoutOf(TimeSpan.FromMilliseconds(200)))
        {
            await Assert.ThrowsAnyAsync<Exception>(() => s3.ListBucketsAsync());
        }

        await Task.Delay(TimeSpan.FromMilliseconds(800));
        var reached = _hung.Accepted;
        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var trial = await Assert.ThrowsAnyAsync<Exception>(() => s3.ListBucketsAsync(bounded.Token));

        // The trial reached storage, timed out as storage (not the caller's minute), and the circuit opened again.
        Assert.False(bounded.IsCancellationRequested, trial.ToString());
        Assert.Equal(ResourceNames.Storage, DependencyUnavailableExceptionHandler.Classify(trial));
        Assert.True(_hung.Accepted > reached);
        Assert.Contains(meter.Calls.Skip(2), c => c.Outcome == CallOutcome.Timeout);
        Assert.Equal(CallOutcome.CircuitOpen, meter.Calls[^1].Outcome);
    }

    public async Task DisposeAsync() => await _hung.DisposeAsync();

    // The circuit refusing a request, anywhere in the exception's chain (the SDK and StreamingPut wrap it).
    private static bool IsRefusal(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is Polly.CircuitBreaker.BrokenCircuitException)
            {
                return true;
            }
        }

        return false;
    }
}
