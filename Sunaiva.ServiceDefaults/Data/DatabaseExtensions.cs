using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Sunaiva.ServiceDefaults.Data;

public static class DatabaseExtensions
{
    /// <summary>How long opening a connection may take (Npgsql's <c>Timeout</c>; its default is 15 s).</summary>
    public const int ConnectTimeoutSeconds = 5;

    /// <summary>How long one statement may take unless it sets its own (Npgsql's <c>CommandTimeout</c>; its default is 30 s).</summary>
    public const int CommandTimeoutSeconds = 10;

    /// <summary>Registers the service's own Postgres database and the migrator that runs before traffic.</summary>
    /// <param name="migrations">The assembly whose embedded <c>migrations/NNNN_name.sql</c> scripts belong to this database.</param>
    public static IHostApplicationBuilder AddSunaivaDatabase(this IHostApplicationBuilder builder, string connectionName, Assembly migrations)
    {
        if (string.IsNullOrEmpty(builder.Configuration.GetConnectionString(connectionName)))
        {
            throw new InvalidOperationException($"ConnectionStrings:{connectionName} is not configured; the AppHost passes it.");
        }

        builder.AddNpgsqlDataSource(connectionName, configureDataSourceBuilder: dataSource =>
        {
            // Work items, inbox rows and event handlers run the same few statements thousands of times a second: prepared
            // once per pooled connection, Postgres stops parsing and planning each (a third of its CPU per webhook in
            // bench/Sunaiva.Bench.Billing). A connection string that sets its own value keeps it.
            if (dataSource.ConnectionStringBuilder.MaxAutoPrepare == 0)
            {
                dataSource.ConnectionStringBuilder.MaxAutoPrepare = 64;
            }

            // Each pooled connection prepares a statement of its own once it has run it this often: Npgsql's default of 5
            // left an upload's statement parsed and planned afresh on most connections of a busy pool (seen in Postgres's log
            // during bench/Sunaiva.Bench.Files: parse 0.2-0.4 ms and bind 0.2-0.5 ms before every execute).
            if (dataSource.ConnectionStringBuilder.AutoPrepareMinUsages == 5)
            {
                dataSource.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
            }

            // No session state is left on a pooled connection (no session SET, temporary table, LISTEN or unreleased session
            // advisory lock: the migrator's lock is released in a finally), so the reset Npgsql prepends to the first command
            // after a checkout (SET SESSION AUTHORIZATION DEFAULT; RESET ALL; CLOSE ALL; ...; 0.17 ms in Postgres each) is
            // not needed.
            dataSource.ConnectionStringBuilder.NoResetOnClose = true;

            // Postgres that hangs (a stopped process, a stalled disk) answers a request with 503 within seconds, not
            // Npgsql's 15 s to connect and 30 s per statement (GET /files answered after 60 s through the AppHost with
            // Postgres stopped). Every statement of a request or a work item takes milliseconds; the few long ones set their
            // own (migrations, the payout run). A connection string that sets a value keeps it.
            if (dataSource.ConnectionStringBuilder.Timeout == 15)
            {
                dataSource.ConnectionStringBuilder.Timeout = ConnectTimeoutSeconds;
            }

            if (dataSource.ConnectionStringBuilder.CommandTimeout == 30)
            {
                dataSource.ConnectionStringBuilder.CommandTimeout = CommandTimeoutSeconds;
            }
        });
        builder.Services.AddSingleton(new DatabaseName(connectionName, migrations));
        builder.Services.AddSingleton<DatabaseMigrator>();
        builder.Services.AddSingleton<IStartupTask>(sp => sp.GetRequiredService<DatabaseMigrator>());
        builder.Services.AddStartupTaskRunner();
        return builder;
    }
}

/// <summary>The connection name of the service's database and the assembly holding its scripts.</summary>
public sealed record DatabaseName(string ConnectionName, Assembly? MigrationsAssembly = null);

/// <summary>Work that must finish before the service takes traffic (migrations, buckets).</summary>
public interface IStartupTask
{
    int Order { get; }

    Task RunAsync(CancellationToken cancellationToken);
}

/// <summary>A shared library's migration scripts: embedded resources named <c>{Prefix}NNNN_name.sql</c>, applied after the kernel's.</summary>
public sealed record MigrationSource(Assembly Assembly, string Prefix);
