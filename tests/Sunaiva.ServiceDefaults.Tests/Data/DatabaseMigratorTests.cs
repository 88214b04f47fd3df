using Dapper;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Sunaiva.ServiceDefaults.Data;
using Sunaiva.ServiceDefaults.Tests.Integration;
using Sunaiva.Testing;

namespace Sunaiva.ServiceDefaults.Tests.Data;

[Collection(ServersCollection.Name)]
public sealed class DatabaseMigratorTests(LocalServers servers)
{
    [Fact]
    public async Task Migrator_creates_the_database_and_applies_each_script_once_even_when_replicas_race()
    {
        var name = LocalServers.NewDatabaseName("mig");
        var connectionString = servers.PostgresConnectionString(name);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"ConnectionStrings:{name}"] = connectionString }).Build();
        await using var source = NpgsqlDataSource.Create(connectionString);
        DatabaseMigrator Migrator() => new(source, configuration, new DatabaseName(name), [], NullLogger<DatabaseMigrator>.Instance, TimeProvider.System);

        await Task.WhenAll(Migrator().RunAsync(CancellationToken.None), Migrator().RunAsync(CancellationToken.None), Migrator().RunAsync(CancellationToken.None));
        await Migrator().RunAsync(CancellationToken.None);

        await using var connection = await source.OpenConnectionAsync();
        var applied = (await connection.QueryAsync<string>("SELECT id FROM schema_migrations ORDER BY id")).ToList();
        Assert.Equal(DatabaseMigrator.LoadScripts(null).Select(s => s.Id).Order(StringComparer.Ordinal), applied);
        Assert.Contains("kernel/0001_event_bus.sql", applied);
        Assert.True(await connection.ExecuteScalarAsync<bool>("SELECT to_regclass('public.outbox') IS NOT NULL"));
    }

    [Fact]
    public async Task A_service_whose_clock_stands_still_starts_once_postgres_answers_after_dropping_its_first_connections()
    {
        // A test's clock stands still while its service starts: the connect retries must wait on the real one, or the start
        // never ends (a CI run was cut at its time limit with a test stuck in its start).
        await using var flaky = new PostgresRelay(servers.PostgresPort, dropFirst: 2);
        var name = LocalServers.NewDatabaseName("mig");
        var connectionString = new NpgsqlConnectionStringBuilder(servers.PostgresConnectionString(name)) { Port = flaky.Port, Pooling = false }.ConnectionString;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"ConnectionStrings:{name}"] = connectionString }).Build();
        await using var source = NpgsqlDataSource.Create(connectionString);
        var standing = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 11, 2, 9, 0, 0, TimeSpan.Zero));
        var migrator = new DatabaseMigrator(source, configuration, new DatabaseName(name), [], NullLogger<DatabaseMigrator>.Instance, standing);

        await migrator.RunAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(flaky.Dropped >= 2, $"the proxy dropped {flaky.Dropped} connections");
        await using var connection = new NpgsqlConnection(servers.PostgresConnectionString(name));
        await connection.OpenAsync();
        Assert.True(await connection.ExecuteScalarAsync<bool>("SELECT to_regclass('public.outbox') IS NOT NULL"));
    }
}

public sealed class DatabaseConnectRetryTests
{
    [Fact]
    public async Task Connect_retries_a_refused_connection_on_the_injected_clock_until_the_server_answers()
    {
        var time = new WaitingTime();
        var pipeline = DatabaseMigrator.ConnectPipeline(time);
        var attempts = 0;

        var opening = pipeline.ExecuteAsync(_ =>
        {
            Interlocked.Increment(ref attempts);
            return Volatile.Read(ref attempts) < 3
                ? throw Refused()
                : ValueTask.FromResult("connected");
        }, CancellationToken.None).AsTask();

        await time.AdvanceWhenWaitingAsync(1, DatabaseMigrator.ConnectDelay);
        await time.AdvanceWhenWaitingAsync(2, DatabaseMigrator.ConnectDelay);
        Assert.Equal("connected", await opening);
        Assert.Equal(3, attempts);
    }

    [Fact]
    public async Task Connect_does_not_retry_a_refused_password()
    {
        var pipeline = DatabaseMigrator.ConnectPipeline(new WaitingTime());
        var attempts = 0;

        var error = await Assert.ThrowsAsync<PostgresException>(async () => await pipeline.ExecuteAsync<string>(_ =>
        {
            attempts++;
            throw new PostgresException("password authentication failed", "FATAL", "FATAL", PostgresErrorCodes.InvalidPassword);
        }, CancellationToken.None));

        Assert.Equal(PostgresErrorCodes.InvalidPassword, error.SqlState);
        Assert.Equal(1, attempts);
    }

    [Fact]
    public async Task Connect_gives_up_after_the_configured_attempts()
    {
        var time = new WaitingTime();
        var pipeline = DatabaseMigrator.ConnectPipeline(time);
        var attempts = 0;

        var opening = pipeline.ExecuteAsync<string>(_ =>
        {
            Interlocked.Increment(ref attempts);
            throw Refused();
        }, CancellationToken.None).AsTask();
        for (var wait = 1; wait < DatabaseMigrator.ConnectAttempts; wait++)
        {
            await time.AdvanceWhenWaitingAsync(wait, DatabaseMigrator.ConnectDelay);
        }

        await Assert.ThrowsAsync<NpgsqlException>(() => opening);
        Assert.Equal(DatabaseMigrator.ConnectAttempts, attempts);
    }

    private static NpgsqlException Refused() =>
        new("Failed to connect", new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.ConnectionRefused));

    /// <summary>Fake time that advances only once the retry has started waiting, so no delay is skipped.</summary>
    private sealed class WaitingTime : Microsoft.Extensions.Time.Testing.FakeTimeProvider
    {
        private int _timers;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _timers);
            return base.CreateTimer(callback, state, dueTime, period);
        }

        public async Task AdvanceWhenWaitingAsync(int timers, TimeSpan by)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (Volatile.Read(ref _timers) < timers)
            {
                await Task.Delay(1, cts.Token);
            }

            Advance(by);
        }
    }
}
