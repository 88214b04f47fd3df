using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Sunaiva.Messaging.Work;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Testing;

namespace Sunaiva.Email.Tests;

[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<EmailServers>
{
    public const string Name = "Local servers with SMTP";
}

/// <summary>Postgres, Redis and maildev for the email tests.</summary>
public sealed class EmailServers() : IAsyncLifetime
{
    public LocalServers Servers { get; } = new() { WithSmtp = true };

    public Maildev Mail => new(Servers.MaildevApi!);

    public Task InitializeAsync() => Servers.InitializeAsync();

    public Task DisposeAsync() => Servers.DisposeAsync();
}

/// <summary>Engagement in-process on real Postgres, Redis and maildev, with fake time. Events are handed to its handlers as the stream bridge would.</summary>
public sealed class EngagementApp : WebApplicationFactory<Program>
{
    public const string InternalToken = "internal-events-test-token-0123456789";
    public const string SigningKey = "email-signing-test-key-0123456789-0123456789";
    public const string PublicBase = "https://engagement.test";

    private static int _redisDatabase;
    private readonly Dictionary<string, string?> _settings;

    public EngagementApp(EmailServers servers, string database, FakeTimeProvider time, IDictionary<string, string?>? settings = null)
    {
        Database = database;
        Time = time;
        // One Redis database per app: each app's stream bridge sees only its own events.
        var redisDb = Interlocked.Increment(ref _redisDatabase) % 16;
        _settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:engagementdb"] = servers.Servers.PostgresConnectionString(database),
            ["ConnectionStrings:redis"] = $"{servers.Servers.RedisConnectionString},defaultDatabase={redisDb}",
            ["ConnectionStrings:smtp"] = servers.Servers.SmtpConnectionString,
            ["Jwt:SigningKey"] = DevTokens.TestSigningKey,
            ["Jwt:Issuer"] = "sunaiva-dev",
            ["Jwt:Audience"] = "sunaiva",
            ["InternalEvents:Token"] = InternalToken,
            ["OpsDashboard:Peers"] = string.Empty,
            ["Email:PublicBaseUrl"] = PublicBase,
            ["Email:AppBaseUrl"] = "https://app.test",
            ["Email:SigningKey"] = SigningKey,
            ["Work:PollInterval"] = "00:00:00.050",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            _settings[key] = value;
        }
    }

    public string Database { get; }

    public FakeTimeProvider Time { get; }

    public NpgsqlDataSource Data => Services.GetRequiredService<NpgsqlDataSource>();

    public static async Task<string> CreateDatabaseAsync(EmailServers servers)
    {
        var database = LocalServers.NewDatabaseName("engagement");
        await servers.Servers.CreateMigratedDatabaseAsync(database, typeof(Program).Assembly);
        return database;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
        builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(Time));
    }

    public HttpClient ClientFor(string userId, bool ops = false)
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", DevTokens.For(userId, ops));
        return client;
    }

    public HttpClient Anonymous() => CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    /// <summary>The conversation backend reports a signup (POST /internal/events); the event then reaches the handlers.</summary>
    public async Task SignUpAsync(string userId, string email, string? name, string? language = "en")
    {
        var eventId = "evt_" + userId;
        var data = new UserSignedUp(userId, email, name, language, "GB", ["reflect daily"], null, null);
        using var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", InternalToken);
        var response = await client.PostAsJsonAsync("/internal/events", new { id = eventId, type = EventTypes.UserSignedUp, data });
        Assert.True(response.IsSuccessStatusCode, $"signup answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        await PublishAsync(eventId, EventTypes.UserSignedUp, data);
    }

    /// <summary>A user row as the internal API writes it, without its input checks (data from elsewhere).</summary>
    public async Task SignUpUncheckedAsync(string userId, string email, string? name, string? language = "en")
    {
        await ExecuteAsync(
            "INSERT INTO users (id, email, name, language, signed_up_at) VALUES (@userId, @email, @name, @language, @at)",
            new { userId, email, name, language, at = Time.GetUtcNow() });
        await PublishAsync("evt_" + userId, EventTypes.UserSignedUp, new UserSignedUp(userId, email, name, language, null, null, null, null));
    }

    /// <summary>Hands an event to every subscribed handler as the stream bridge does (same work kinds and keys), then runs due work.</summary>
    public async Task PublishAsync(string eventId, string type, object data)
    {
        var integrationEvent = new IntegrationEvent(eventId, type, "test", Time.GetUtcNow(), JsonSerializer.SerializeToElement(data, EventJson.Options));
        var payload = JsonSerializer.Serialize(integrationEvent, EventJson.Options);
        var work = Services.GetServices<IIntegrationEventHandler>()
            .Where(h => h.EventTypes.Contains(type))
            .Select(h => new NewWork(EventHandlerWork.KindOf(h), $"evt:{eventId}:{h.GetType().Name}", payload))
            .ToList();
        await Services.GetRequiredService<WorkQueue>().EnqueueAsync(work, CancellationToken.None);
        await RunDueWorkAsync();
    }

    /// <summary>Moves fake time forward and waits until every item due by then is finished.</summary>
    public async Task AdvanceAsync(TimeSpan by)
    {
        Time.Advance(by);
        await RunDueWorkAsync();
    }

    /// <summary>Waits until no work item due now is pending (the runner's timers run on fake time: it is woken here).</summary>
    public Task RunDueWorkAsync() =>
        Eventually.UntilAsync(async () =>
        {
            Services.GetRequiredService<WorkSignal>().Notify();
            return await QueryOneAsync<long>("SELECT COUNT(*) FROM work_items WHERE status = 'pending' AND run_at <= @now", new { now = Time.GetUtcNow() }) == 0;
        }, "due work finished");

    public Task<T> QueryOneAsync<T>(string sql, object? args = null) => Data.QueryOneAsync<T>(sql, args);

    public Task<List<T>> QueryAsync<T>(string sql, object? args = null) => Data.QueryListAsync<T>(sql, args);

    public Task ExecuteAsync(string sql, object? args = null) => Data.ExecuteSqlAsync(sql, args);
}
