using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sunaiva.Testing;
using Sunaiva.Testing.FakeGoogle;

namespace Sunaiva.AppHost.Tests;

/// <summary>The whole AppHost in local mode, on a fresh data folder, started once for the test collection.</summary>
public sealed class SunaivaAppFixture : IAsyncLifetime
{
    public const string InternalToken = "internal-events-token-for-tests-0123456789";

    public static readonly string[] Services = [ResourceNames.Voice, ResourceNames.Billing, ResourceNames.Media, ResourceNames.Engagement];

    public const string StripeWebhookSecret = "whsec_apphost_tests_0123456789";

    private DistributedApplication? _app;

    /// <summary>Stands in for api.stripe.com; billing is pointed at it through the AppHost's Stripe:ApiBase.</summary>
    public Sunaiva.Billing.Tests.FakeStripe Stripe { get; private set; } = null!;

    /// <summary>Stands in for Google's OAuth and Drive v3 endpoints; Media is pointed at it through the AppHost's Drive:* settings.</summary>
    public FakeGoogleServer Google { get; private set; } = null!;

    public DistributedApplication App => _app ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        Stripe = await Sunaiva.Billing.Tests.FakeStripe.StartAsync();
        Google = await FakeGoogleServer.StartAsync();
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Sunaiva_AppHost>(
            [
                "--Infrastructure:Mode=local",
                "--LocalInfra:Fresh=true",
                $"--Parameters:{ResourceNames.JwtSigningKeyParameter}={DevTokens.TestSigningKey}",
                $"--Parameters:{ResourceNames.InternalEventsTokenParameter}={InternalToken}",
                $"--Parameters:{ResourceNames.StripeSecretKeyParameter}=sk_test_apphost_fake",
                $"--Parameters:{ResourceNames.StripeWebhookSecretParameter}={StripeWebhookSecret}",
                $"--Stripe:ApiBase={Stripe.BaseUrl}",
                $"--Parameters:{ResourceNames.DriveClientIdParameter}={FakeGoogleServer.ClientId}",
                $"--Parameters:{ResourceNames.DriveClientSecretParameter}={FakeGoogleServer.ClientSecret}",
                $"--Drive:AuthorizationEndpoint={Google.AuthorizationEndpoint}",
                $"--Drive:TokenEndpoint={Google.TokenEndpoint}",
                $"--Drive:RevokeEndpoint={Google.RevokeEndpoint}",
                $"--Drive:ApiBaseUrl={Google.ApiBaseUrl}",
            ],
            (options, _) => options.DisableDashboard = true);
        builder.Services.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        builder.Services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler(o =>
        {
            o.Retry.MaxRetryAttempts = 1;
            o.AttemptTimeout.Timeout = TimeSpan.FromSeconds(30);
            o.TotalRequestTimeout.Timeout = TimeSpan.FromSeconds(60);
            o.CircuitBreaker.SamplingDuration = TimeSpan.FromSeconds(60);
        }));

        _app = await builder.BuildAsync();
        using var startup = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await _app.StartAsync(startup.Token);
        foreach (var resource in new[] { ResourceNames.Redis, ResourceNames.Postgres, ResourceNames.Storage, ResourceNames.Smtp }.Concat(Services))
        {
            await _app.ResourceNotifications.WaitForResourceHealthyAsync(resource, startup.Token);
        }
    }

    public HttpClient Client(string service, string? userId = null, bool ops = false)
    {
        var client = App.CreateHttpClient(service, "http");
        if (userId is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", DevTokens.For(userId, ops));
        }

        return client;
    }

    /// <summary>Registers an influencer owning <paramref name="referralCode"/> (only owned codes are attributed); idempotent.</summary>
    public async Task EnsureInfluencerAsync(string referralCode)
    {
        using var client = Client(ResourceNames.Billing, "influencer-" + referralCode.ToLowerInvariant());
        var response = await client.PostAsJsonAsync("/influencers", new { referralCode, country = "US", email = $"{referralCode.ToLowerInvariant()}@example.com" });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>The resource's connection string; without pooling, since some tests kill and restart Postgres.</summary>
    public async Task<string> ConnectionStringAsync(string name)
    {
        var connectionString = await App.GetConnectionStringAsync(name) ?? throw new InvalidOperationException($"no connection string {name}");
        return name.EndsWith("db", StringComparison.Ordinal) ? connectionString + ";Pooling=false" : connectionString;
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        if (Stripe is not null)
        {
            await Stripe.DisposeAsync();
        }

        if (Google is not null)
        {
            await Google.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SunaivaAppCollection : ICollectionFixture<SunaivaAppFixture>
{
    public const string Name = "Sunaiva app";
}
