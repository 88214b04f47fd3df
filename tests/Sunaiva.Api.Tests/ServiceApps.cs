using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Logging;
using Sunaiva.Testing;

namespace Sunaiva.Api.Tests;

/// <summary>One service hosted in memory on the real local servers, in Development (as the AppHost runs it).</summary>
public sealed class ServiceApp<TEntry>(IReadOnlyDictionary<string, string?> settings) : WebApplicationFactory<TEntry>
    where TEntry : class
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Development");
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureLogging(logging => logging.SetMinimumLevel(LogLevel.Warning));
    }
}

/// <summary>The four services, started once for every contract test, on one set of local servers (Postgres, Redis, S3).</summary>
public sealed class ServiceApps : IAsyncLifetime
{
    public static readonly string[] Names = ["voice", "billing", "media", "engagement"];

    private readonly LocalServers _servers = new() { WithStorage = true };
    private readonly Dictionary<string, IDisposable> _apps = [];
    private readonly Dictionary<string, Func<HttpClient>> _clients = [];
    private readonly Dictionary<string, IServiceProvider> _services = [];

    public HttpClient Client(string service) => _clients[service]();

    public IServiceProvider Services(string service) => _services[service];

    public async Task InitializeAsync()
    {
        await _servers.InitializeAsync();
        Start<Sunaiva.Voice.Preferences.PreferenceStore>("voice", "voicedb");
        Start<Sunaiva.Billing.Infrastructure.StripeGateway>("billing", "billingdb", new() { ["Stripe:SecretKey"] = string.Empty, ["Stripe:WebhookSecret"] = string.Empty });
        // The .http file's onboarding request renders three videos and its event stream stays open until they are ready:
        // drafts keep that to seconds; the statuses are what is checked.
        var media = DraftVideos.Settings();
        media["ConnectionStrings:storage"] = _servers.StorageConnectionString;
        Start<Sunaiva.Media.Files.FileVault>("media", "mediadb", media);
        Start<Sunaiva.Engagement.Email.EmailDelivery>("engagement", "engagementdb", new()
        {
            ["ConnectionStrings:smtp"] = "Endpoint=smtp://127.0.0.1:1",
            ["InternalEvents:Token"] = "internal-events-test-token-0123456789",
            ["OpsDashboard:Peers"] = string.Empty,
        });
    }

    private void Start<TEntry>(string name, string connectionName, Dictionary<string, string?>? extra = null)
        where TEntry : class
    {
        var settings = new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{connectionName}"] = _servers.PostgresConnectionString(LocalServers.NewDatabaseName(name)),
            ["ConnectionStrings:redis"] = _servers.RedisConnectionString,
            ["Jwt:SigningKey"] = DevTokens.TestSigningKey,
            ["Jwt:Issuer"] = "sunaiva-dev",
            ["Jwt:Audience"] = "sunaiva",
        };
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        var app = new ServiceApp<TEntry>(settings);
        _apps[name] = app;
        _clients[name] = app.CreateClient;
        _services[name] = app.Services;
    }

    public async Task DisposeAsync()
    {
        foreach (var app in _apps.Values)
        {
            if (app is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync();
            }
        }

        await _servers.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ServiceAppsCollection : ICollectionFixture<ServiceApps>
{
    public const string Name = "service apps";
}
