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
}
