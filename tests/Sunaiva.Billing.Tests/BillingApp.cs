using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Npgsql;
using Sunaiva.Billing.Webhooks;
using Sunaiva.Testing;

namespace Sunaiva.Billing.Tests;

[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<LocalServers>
{
    public const string Name = "Local servers";
}

/// <summary>The billing service in-process, on real Postgres and Redis, with Stripe faked over HTTP and time faked.</summary>
public sealed class BillingApp : WebApplicationFactory<Program>
{
    public const string WebhookSecret = "whsec_test_0123456789abcdef";

    private readonly LocalServers _servers;
    private readonly Dictionary<string, string?> _settings;

    public BillingApp(LocalServers servers, FakeStripe? stripe, string database, FakeTimeProvider time, IDictionary<string, string?>? settings = null)
    {
        _servers = servers;
        Database = database;
        Time = time;
        Stripe = stripe;
        _settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:billingdb"] = servers.PostgresConnectionString(database),
            ["ConnectionStrings:redis"] = servers.RedisConnectionString,
            ["Jwt:SigningKey"] = DevTokens.TestSigningKey,
            ["Jwt:Issuer"] = "sunaiva-dev",
            ["Jwt:Audience"] = "sunaiva",
            ["Stripe:SecretKey"] = stripe is null ? string.Empty : "sk_test_fake",
            ["Stripe:WebhookSecret"] = stripe is null ? string.Empty : WebhookSecret,
            ["Stripe:ApiBase"] = stripe?.BaseUrl ?? "https://api.stripe.com",
            ["Stripe:MaxNetworkRetries"] = "0",
            ["Work:Kinds:webhook.stripe:MaxAttempts"] = "3",
            ["Work:Kinds:webhook.stripe:BaseDelay"] = "00:00:10",
            ["Work:Kinds:webhook.stripe:MaxDelay"] = "01:00:00",
            ["Work:PollInterval"] = "00:00:00.050",
            ["Stripe:PayoutDayOfMonth"] = "0",
            ["Stripe:Plans:plus-monthly:PriceId"] = StripeObjects.PriceId,
            ["Stripe:Plans:plus-monthly:Interval"] = "month",
            ["Stripe:Plans:plus-monthly:Currencies:0"] = "usd",
            ["Stripe:Plans:plus-monthly:Currencies:1"] = "eur",
            ["Stripe:Plans:plus-monthly:Currencies:2"] = "gbp",
            ["Stripe:Plans:plus-monthly:Currencies:3"] = "inr",
            ["Stripe:Plans:plus-monthly:Currencies:4"] = "brl",
            ["Stripe:Plans:plus-monthly:Currencies:5"] = "aud",
            ["Stripe:Plans:plus-monthly:Entitlements:0"] = "memory-vault",
            ["Stripe:Plans:plus-monthly:Entitlements:1"] = "voice",
            ["Stripe:CountryCurrencies:DE"] = "eur",
            ["Stripe:CountryCurrencies:GB"] = "gbp",
            ["Stripe:CountryCurrencies:IN"] = "inr",
            ["Stripe:CountryCurrencies:BR"] = "brl",
            ["Stripe:CountryCurrencies:AU"] = "aud",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            _settings[key] = value;
        }
    }

    public string Database { get; }

    public FakeTimeProvider Time { get; }

    public FakeStripe? Stripe { get; }

    public RecordingMeter Meter { get; } = new();

    /// <summary>Warnings and errors the service logged, formatted.</summary>
    public RecordingLogs Logs { get; } = new();

    public NpgsqlDataSource Data => Services.GetRequiredService<NpgsqlDataSource>();

    /// <summary>Creates the database and applies the kernel's and billing's scripts, as the migrator does at start.</summary>
    public static Task MigrateAsync(LocalServers servers, string database) => servers.CreateMigratedDatabaseAsync(database, typeof(Program).Assembly);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureLogging(logging => logging.SetMinimumLevel(LogLevel.Warning).AddProvider(Logs));
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<TimeProvider>(Time);
            services.AddSingleton<Sunaiva.Integration.IIntegrationMeter>(Meter);
        });
    }

    public HttpClient ClientFor(string userId, bool ops = false)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", DevTokens.For(userId, ops));
        return client;
    }

    public StripeEventProcessor Processor => Services.GetRequiredService<StripeEventProcessor>();

    public Sunaiva.Messaging.Work.WorkRunner Runner => Services.GetRequiredService<Sunaiva.Messaging.Work.WorkRunner>();

    /// <summary>Posts a Stripe event as Stripe would: raw JSON, signed now.</summary>
    public async Task<HttpResponseMessage> DeliverAsync(JsonObject stripeEvent, string? signature = null, string? payload = null)
    {
        payload ??= stripeEvent.ToJsonString();
        signature ??= StripeObjects.Sign(payload, WebhookSecret, Time.GetUtcNow().ToUnixTimeSeconds());
        using var client = CreateClient();
        using var content = new StringContent(payload, Encoding.UTF8, "application/json");
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/stripe") { Content = content };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", signature);
        return await client.SendAsync(request);
    }

    /// <summary>Waits until each event has left the pending state (done, ignored or dead).</summary>
    public async Task WaitProcessedAsync(params string[] eventIds)
    {
        try
        {
            await WaitPendingGoneAsync(eventIds);
        }
        catch (TimeoutException ex)
        {
            var errors = await QueryAsync<string>("SELECT id || ': ' || COALESCE(last_error, status) FROM stripe_events WHERE id = ANY(@eventIds)", new { eventIds });
            throw new TimeoutException(ex.Message + " / " + string.Join("; ", errors), ex);
        }
    }

    private Task WaitPendingGoneAsync(string[] eventIds) =>
        Eventually.UntilAsync(async () =>
        {
            Nudge();
            var open = await QueryOneAsync<long>("SELECT COUNT(*) FROM stripe_events WHERE id = ANY(@eventIds) AND status = 'pending'", new { eventIds });
            var known = await QueryOneAsync<long>("SELECT COUNT(*) FROM stripe_events WHERE id = ANY(@eventIds)", new { eventIds });
            return open == 0 && known == eventIds.Distinct().Count();
        }, $"events {string.Join(", ", eventIds)} processed");

    /// <summary>Waits until the event has been tried at least this many times.</summary>
    public Task WaitAttemptsAsync(string eventId, int attempts) =>
        Eventually.UntilAsync(async () =>
            // Counted once the outcome of the try is recorded (the item no longer leased).
            Nudge() && await QueryOneAsync<int>(
                "SELECT COALESCE((SELECT attempts FROM work_items WHERE key = 'webhook:stripe:' || @eventId AND lease_owner IS NULL), 0)", new { eventId }) >= attempts,
            $"event {eventId} tried {attempts} times");

    /// <summary>Wakes the processor (its poll timer runs on fake time).</summary>
    public bool Nudge()
    {
        Services.GetRequiredService<Sunaiva.Messaging.Work.WorkSignal>().Notify();
        return true;
    }

    public Task<T> QueryOneAsync<T>(string sql, object? args = null) => Data.QueryOneAsync<T>(sql, args);

    public Task<List<T>> QueryAsync<T>(string sql, object? args = null) => Data.QueryListAsync<T>(sql, args);

    public Task ExecuteAsync(string sql, object? args = null) => Data.ExecuteSqlAsync(sql, args);

    public static async Task<JsonObject> ReadJsonAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonObject>())!;
}

/// <summary>Collects metered provider calls.</summary>
public sealed class RecordingMeter : Sunaiva.Integration.IIntegrationMeter
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<Sunaiva.Integration.MeteredCall> _calls = new();

    public IReadOnlyList<Sunaiva.Integration.MeteredCall> Calls => _calls.ToList();

    public void Record(Sunaiva.Integration.MeteredCall call) => _calls.Enqueue(call);
}

/// <summary>Collects formatted log lines (what an operator would read).</summary>
public sealed class RecordingLogs : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => _lines.ToList();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(RecordingLogs owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue(formatter(state, exception));
    }
}
