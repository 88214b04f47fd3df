using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Sunaiva.Testing;

/// <summary>
/// One Sunaiva service in-process (its real <c>Program</c>) on real local servers, with a fresh database of its own,
/// the tests' JWT key and fake time. Its startup tasks (migrations, buckets) have run once <see cref="StartAsync"/> returns.
/// </summary>
public class ServiceApp<TEntryPoint>(LocalServers servers, string databaseConnectionName, IDictionary<string, string?>? settings = null) : WebApplicationFactory<TEntryPoint>
    where TEntryPoint : class
{
    public LocalServers Servers { get; } = servers;

    public string Database { get; } = LocalServers.NewDatabaseName(databaseConnectionName.Replace("db", string.Empty, StringComparison.Ordinal));

    public string ConnectionString => Servers.PostgresConnectionString(Database);

    // Starts at the real clock: bearer tokens are minted and checked against it.
    public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    public async Task StartAsync()
    {
        await CreateDatabaseAsync();
        _ = Server;
    }

    /// <summary>
    /// Creates the app's database, migrated, before its migrator looks (<see cref="LocalServers.CreateMigratedDatabaseAsync"/>),
    /// unless the test points the app at another database; a server that does not answer is left for the app to find.
    /// </summary>
    private async Task CreateDatabaseAsync()
    {
        if (settings?.ContainsKey($"ConnectionStrings:{databaseConnectionName}") == true)
        {
            return;
        }

        try
        {
            await Servers.CreateMigratedDatabaseAsync(Database, typeof(TEntryPoint).Assembly);
        }
        catch (NpgsqlException)
        {
            // Postgres down (an outage test) or the database already there: the app's own migrator decides.
        }
    }

    /// <summary>A client that calls as <paramref name="userId"/> (a bearer token like the conversation backend's).</summary>
    public HttpClient ClientFor(string userId, bool ops = false)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", DevTokens.For(userId, ops));
        return client;
    }

    /// <summary>
    /// A client that sends a request body while reading it, as a browser does (<see cref="ClientFor"/>'s redirect handler
    /// reads a body whole before sending it, to be able to send it again).
    /// </summary>
    public HttpClient StreamingClientFor(string userId)
    {
        var client = Server.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", DevTokens.For(userId));
        return client;
    }

    public async Task<T?> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        // On the app's own pool: a pool of the test's would open a connection of its own to each test's database (about 45 ms
        // of Postgres CPU on this VM).
        await using var connection = await Services.GetRequiredService<NpgsqlDataSource>().OpenConnectionAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        var result = await command.ExecuteScalarAsync();
        return result is null or DBNull ? default : (T)result;
    }

    protected virtual void AddSettings(IDictionary<string, string?> values)
    {
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        var values = new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{databaseConnectionName}"] = ConnectionString,
            ["ConnectionStrings:redis"] = Servers.RedisConnectionString,
            ["Jwt:SigningKey"] = DevTokens.TestSigningKey,
            ["Jwt:Issuer"] = "sunaiva-dev",
            ["Jwt:Audience"] = "sunaiva",
        };
        AddSettings(values);
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        builder.UseEnvironment("Development");
        foreach (var (key, value) in values)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<TimeProvider>(Time);
            ConfigureServices?.Invoke(services);
        });
    }

    /// <summary>Replaces services after the app registered its own (a fault injected into one dependency).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }
}
