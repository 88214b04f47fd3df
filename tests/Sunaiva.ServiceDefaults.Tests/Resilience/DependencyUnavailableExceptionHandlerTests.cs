using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Amazon.S3;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using StackExchange.Redis;
using Sunaiva.ServiceDefaults.Ops;
using Sunaiva.ServiceDefaults.Resilience;

namespace Sunaiva.ServiceDefaults.Tests.Resilience;

public sealed class DependencyUnavailableExceptionHandlerTests
{
    [Fact]
    public async Task Refused_postgres_connection_is_named_postgres()
    {
        // Nothing listens on port 1: the same refusal Npgsql meets when Postgres is down.
        await using var dataSource = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=x;Password=y;Timeout=2");
        var ex = await Assert.ThrowsAnyAsync<Exception>(async () => await dataSource.OpenConnectionAsync());
        Assert.Equal(ResourceNames.Postgres, DependencyUnavailableExceptionHandler.Classify(ex));
    }

    [Fact]
    public void Redis_connection_and_timeout_failures_are_named_redis()
    {
        Assert.Equal(ResourceNames.Redis, DependencyUnavailableExceptionHandler.Classify(new RedisConnectionException(ConnectionFailureType.UnableToConnect, "down")));
        Assert.Equal(ResourceNames.Redis, DependencyUnavailableExceptionHandler.Classify(new RedisTimeoutException("slow", CommandStatus.Sent)));
    }

    [Fact]
    public void Storage_server_errors_are_named_storage_but_client_errors_are_not()
    {
        Assert.Equal(ResourceNames.Storage, DependencyUnavailableExceptionHandler.Classify(new AmazonS3Exception("busy") { StatusCode = HttpStatusCode.ServiceUnavailable }));
        Assert.Null(DependencyUnavailableExceptionHandler.Classify(new AmazonS3Exception("no such key") { StatusCode = HttpStatusCode.NotFound }));
    }

    [Fact]
    public void Server_side_postgres_errors_and_unrelated_failures_are_bugs_not_outages()
    {
        Assert.Null(DependencyUnavailableExceptionHandler.Classify(new PostgresException("duplicate key", "ERROR", "ERROR", "23505")));
        Assert.Equal(ResourceNames.Postgres, DependencyUnavailableExceptionHandler.Classify(new PostgresException("shutting down", "FATAL", "FATAL", "57P01")));
        Assert.Null(DependencyUnavailableExceptionHandler.Classify(new InvalidOperationException("bug")));
        Assert.Null(DependencyUnavailableExceptionHandler.Classify(new SocketException((int)SocketError.ConnectionRefused)));
    }

    [Fact]
    public async Task A_wait_cancelled_while_the_client_is_still_there_answers_503_with_retry_after_not_500()
    {
        // What StackExchange.Redis throws for a command it cancels when it resets a hung connection: a bare TaskCanceledException.
        var (handled, context) = await HandleAsync(new TaskCanceledException());

        Assert.True(handled);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
        Assert.Equal(DependencyUnavailableExceptionHandler.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), context.Response.Headers.RetryAfter.ToString());
        context.Response.Body.Position = 0;
        var problem = await JsonSerializer.DeserializeAsync<JsonElement>(context.Response.Body);
        Assert.Equal(503, problem.GetProperty("status").GetInt32());
        Assert.Contains("did not answer in time", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_resilience_pipelines_timeout_answers_503()
    {
        var (handled, context) = await HandleAsync(new Polly.Timeout.TimeoutRejectedException("attempt timed out"));

        Assert.True(handled);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
    }

    [Fact]
    public async Task A_cancellation_because_the_client_left_and_an_unrelated_failure_are_not_outages()
    {
        using var left = new CancellationTokenSource();
        await left.CancelAsync();
        Assert.False((await HandleAsync(new OperationCanceledException(left.Token), left.Token)).Handled);
        Assert.False((await HandleAsync(new InvalidOperationException("bug"))).Handled);
    }

    [Fact]
    public async Task The_status_report_keeps_going_when_reading_the_work_is_cancelled_by_something_else_than_its_caller()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy());
        services.AddSingleton(new ServiceIdentity("test", "1.0"));
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IWorkStatusSource, CancelledWork>();
        services.AddSingleton<DependencyStatusReporter>();
        await using var provider = services.BuildServiceProvider();

        var report = await provider.GetRequiredService<DependencyStatusReporter>().ReportAsync(CancellationToken.None);

        Assert.Null(report.Work);
        Assert.Contains(report.Dependencies, d => d.Name == "self" && d.State == "healthy");
    }

    private static async Task<(bool Handled, DefaultHttpContext Context)> HandleAsync(Exception exception, CancellationToken requestAborted = default)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddProblemDetails();
        await using var provider = services.BuildServiceProvider();
        var handler = new DependencyUnavailableExceptionHandler(provider.GetRequiredService<IProblemDetailsService>(), NullLogger<DependencyUnavailableExceptionHandler>.Instance);
        var context = new DefaultHttpContext { RequestServices = provider, RequestAborted = requestAborted };
        context.Response.Body = new MemoryStream();
        return (await handler.TryHandleAsync(context, exception, CancellationToken.None), context);
    }

    private sealed class CancelledWork : IWorkStatusSource
    {
        public Task<WorkStatus?> ReadAsync(CancellationToken cancellationToken) => Task.FromCanceled<WorkStatus?>(new CancellationToken(canceled: true));
    }
}

public sealed class HealthCheckTimeoutTests
{
    [Fact]
    public async Task A_health_check_that_hangs_is_given_up_after_the_timeout_and_reported_unhealthy()
    {
        var builder = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        Microsoft.Extensions.Hosting.SunaivaServiceDefaults.AddServiceDefaults(builder);
        builder.Services.AddHealthChecks().AddCheck<HangingCheck>("hangs");
        await using var app = builder.Build();

        var registration = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<HealthCheckServiceOptions>>().Value.Registrations.Single(r => r.Name == "hangs");
        // Without the timeout the check would run until this gives up (the test then fails on the cancellation).
        using var giveUp = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var report = await app.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == "hangs", giveUp.Token);

        Assert.Equal(Microsoft.Extensions.Hosting.SunaivaServiceDefaults.HealthCheckTimeout, registration.Timeout);
        Assert.Equal(HealthStatus.Unhealthy, report.Entries["hangs"].Status);
    }

    private sealed class HangingCheck : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return HealthCheckResult.Healthy();
        }
    }
}
