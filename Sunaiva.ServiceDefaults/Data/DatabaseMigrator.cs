using System.Reflection;
using Dapper;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;
using Polly.Retry;

namespace Sunaiva.ServiceDefaults.Data;

/// <summary>
/// Applies versioned SQL scripts: the kernel's (embedded in ServiceDefaults as <c>kernel/NNNN_x.sql</c>)
/// then the service's own (embedded as <c>Migrations/NNNN_x.sql</c>), each once, in order, in a transaction,
/// under an advisory lock so replicas starting together do not race. Creates the database if missing.
/// </summary>
public sealed partial class DatabaseMigrator(
    NpgsqlDataSource dataSource,
    IConfiguration configuration,
    DatabaseName databaseName,
    IEnumerable<MigrationSource> libraries,
    ILogger<DatabaseMigrator> logger,
    TimeProvider time) : IStartupTask
{
    private const long LockKey = 0x5375_6e61_6976_61;

    /// <summary>How long a starting service waits for Postgres to accept connections: 30 attempts, 0.5 s apart.</summary>
    internal const int ConnectAttempts = 30;

    internal static readonly TimeSpan ConnectDelay = TimeSpan.FromMilliseconds(500);

    // On the real clock, not the service's: a test's clock stands still while its service starts, and a retry waiting on it
    // would hold that start for ever after one refused connection.
    private readonly ResiliencePipeline _connect = ConnectPipeline(TimeProvider.System);

    private const int ScriptTimeoutSeconds = 600;

    public int Order => 0;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await EnsureDatabaseExistsAsync(cancellationToken);
        var scripts = LoadScripts(databaseName.MigrationsAssembly, libraries);

        await using var connection = await OpenAsync(dataSource, cancellationToken);
        // Waiting for another instance's migrations, and the scripts themselves, may take longer than a request's statement
        // (the data source's default, DatabaseExtensions.CommandTimeoutSeconds).
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_lock(@k)", new { k = LockKey }, commandTimeout: ScriptTimeoutSeconds, cancellationToken: cancellationToken));
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL)",
                cancellationToken: cancellationToken));
            var applied = (await connection.QueryAsync<string>(new CommandDefinition("SELECT id FROM schema_migrations", cancellationToken: cancellationToken))).ToHashSet();
            foreach (var (id, sql) in scripts)
            {
                if (applied.Contains(id))
                {
                    continue;
                }

                await using var tx = await connection.BeginTransactionAsync(cancellationToken);
                await connection.ExecuteAsync(new CommandDefinition(sql, transaction: tx, commandTimeout: ScriptTimeoutSeconds, cancellationToken: cancellationToken));
                await connection.ExecuteAsync(new CommandDefinition(
                    "INSERT INTO schema_migrations (id, applied_at) VALUES (@id, @at)",
                    new { id, at = time.GetUtcNow() }, tx, cancellationToken: cancellationToken));
                await tx.CommitAsync(cancellationToken);
                LogApplied(logger, id);
            }
        }
        finally
        {
            await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock(@k)", new { k = LockKey }, cancellationToken: CancellationToken.None));
        }
    }

    internal static IReadOnlyList<(string Id, string Sql)> LoadScripts(Assembly? serviceAssembly, IEnumerable<MigrationSource>? libraries = null)
    {
        var result = new List<(string, string)>();
        foreach (var library in libraries ?? [])
        {
            foreach (var name in library.Assembly.GetManifestResourceNames()
                .Where(n => n.StartsWith(library.Prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal))
            {
                using var stream = library.Assembly.GetManifestResourceStream(name)!;
                using var reader = new StreamReader(stream);
                result.Add((name, reader.ReadToEnd()));
            }
        }

        // Kernel scripts first (the libraries' scripts may alter kernel tables), then libraries, then the service's own.
        var kernelAndService = new List<(string, string)>();
        foreach (var (assembly, prefix) in new[] { (typeof(DatabaseMigrator).Assembly, "kernel/"), (serviceAssembly, "service/") })
        {
            if (assembly is null)
            {
                continue;
            }

            var names = assembly.GetManifestResourceNames()
                .Where(n => n.EndsWith(".sql", StringComparison.OrdinalIgnoreCase) && (prefix == "kernel/" ? n.StartsWith("kernel/", StringComparison.Ordinal) : n.StartsWith("migrations/", StringComparison.Ordinal)))
                .Order(StringComparer.Ordinal);
            foreach (var name in names)
            {
                using var stream = assembly.GetManifestResourceStream(name)!;
                using var reader = new StreamReader(stream);
                kernelAndService.Add((prefix + name[(name.IndexOf('/', StringComparison.Ordinal) + 1)..], reader.ReadToEnd()));
            }
        }

        var kernelCount = kernelAndService.Count(s => s.Item1.StartsWith("kernel/", StringComparison.Ordinal));
        return [.. kernelAndService.Take(kernelCount), .. result, .. kernelAndService.Skip(kernelCount)];
    }

    private async Task EnsureDatabaseExistsAsync(CancellationToken cancellationToken)
    {
        // Every start but the first finds its database: a connection of the service's own pool (the migration's, next) says
        // so, without an unpooled connection to the maintenance database (about 45 ms of Postgres CPU on a small VM) or
        // the right to read it.
        try
        {
            await using var probe = await OpenAsync(dataSource, cancellationToken);
            return;
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InvalidCatalogName)
        {
            // No such database yet: create it.
        }

        // The data source hides the password, so start again from the configured connection string.
        var configured = configuration.GetConnectionString(databaseName.ConnectionName) ?? dataSource.ConnectionString;
        var target = new NpgsqlConnectionStringBuilder(configured);
        var database = target.Database ?? throw new InvalidOperationException("The database connection string names no Database.");
        var admin = new NpgsqlConnectionStringBuilder(configured) { Database = "postgres", Pooling = false };

        await using var adminSource = NpgsqlDataSource.Create(admin.ConnectionString);
        await using var connection = await OpenAsync(adminSource, cancellationToken);
        var exists = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = @database)", new { database }, cancellationToken: cancellationToken));
        if (!exists)
        {
            try
            {
                // Identifiers cannot be parameters; the name comes from configuration and is quoted.
                await connection.ExecuteAsync(new CommandDefinition($"CREATE DATABASE \"{database.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", cancellationToken: cancellationToken));
                LogCreated(logger, database);
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.DuplicateDatabase or PostgresErrorCodes.UniqueViolation)
            {
                // Another replica created it first (concurrent CREATE DATABASE reports a unique violation).
            }
        }
    }

    private ValueTask<NpgsqlConnection> OpenAsync(NpgsqlDataSource source, CancellationToken cancellationToken) =>
        _connect.ExecuteAsync(static (source, ct) => source.OpenConnectionAsync(ct), source, cancellationToken);

    /// <summary>
    /// Retries what a server that is still starting answers (refused connections, "starting up"), on
    /// <paramref name="time"/>'s clock (the real one in the migrator); a wrong password or a missing role fails at once.
    /// </summary>
    internal static ResiliencePipeline ConnectPipeline(TimeProvider time) =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = ConnectAttempts - 1,
                Delay = ConnectDelay,
                BackoffType = DelayBackoffType.Constant,
                ShouldHandle = new PredicateBuilder().Handle<NpgsqlException>(ex => ex.IsTransient).Handle<System.Net.Sockets.SocketException>(),
            })
            .Build();

    [LoggerMessage(Level = LogLevel.Information, Message = "Applied migration {Migration}")]
    private static partial void LogApplied(ILogger logger, string migration);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created database {Database}")]
    private static partial void LogCreated(ILogger logger, string database);
}
