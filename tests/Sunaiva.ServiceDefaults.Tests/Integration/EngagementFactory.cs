using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.ServiceDefaults.Data;
using Sunaiva.Integration;
using Sunaiva.Testing;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

/// <summary>Engagement hosted in memory on real Postgres and Redis, with a fake "echo" chain (primary, backup).</summary>
public sealed class EngagementFactory(LocalServers servers, bool kestrel = false, IDictionary<string, string>? settings = null) : WebApplicationFactory<Program>
{
    /// <summary>With Kestrel: where a real client (a browser) reaches the app.</summary>
    public Uri? KestrelAddress { get; private set; }

    public string Database { get; } = LocalServers.NewDatabaseName("engagement");

    public FakeEcho Primary { get; } = new("primary");

    public FakeEcho Backup { get; } = new("backup");

    public string ConnectionString => servers.PostgresConnectionString(Database);

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("ConnectionStrings:engagementdb", ConnectionString);
        builder.UseSetting("ConnectionStrings:redis", servers.RedisConnectionString);
        builder.UseSetting("ConnectionStrings:smtp", "Endpoint=smtp://127.0.0.1:1");
        builder.UseSetting("Jwt:SigningKey", DevTokens.TestSigningKey);
        builder.UseSetting("Jwt:Issuer", "sunaiva-dev");
        builder.UseSetting("Jwt:Audience", "sunaiva");
        builder.UseSetting("InternalEvents:Token", "internal-events-test-token-0123456789");
        builder.UseSetting("OpsDashboard:Peers", string.Empty);
        builder.UseSetting("Integration:Capabilities:echo:Adapters:0", "primary");
        builder.UseSetting("Integration:Capabilities:echo:Adapters:1", "backup");
        builder.UseSetting("Integration:Providers:primary:Prices:characters:UsdPerUnit", "0.001");
        builder.UseSetting("Integration:Providers:primary:Prices:characters:Source", "test");
        builder.UseSetting("Integration:Providers:primary:Prices:characters:Date", "2026-11-01");
        builder.UseSetting("Integration:Providers:backup:Prices:characters:UsdPerUnit", "0.0001");
        builder.UseSetting("Integration:Providers:backup:Prices:characters:Source", "test");
        builder.UseSetting("Integration:Providers:backup:Prices:characters:Date", "2026-11-01");
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            builder.UseSetting(key, value);
        }

        builder.ConfigureTestServices(services =>
            services.AddProviderChain<IEcho>("echo").AddAdapter(_ => Primary).AddAdapter(_ => Backup));
    }

    /// <summary>Starts the server; the host's startup tasks (migrations, buckets) have run by the time it listens.</summary>
    public async Task StartAsync()
    {
        await servers.CreateMigratedDatabaseAsync(Database, typeof(Program).Assembly);
        if (kestrel)
        {
            UseKestrel(0);
            StartServer();
            var addresses = Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
                .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses;
            KestrelAddress = new Uri(addresses.First().Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("localhost", "127.0.0.1", StringComparison.Ordinal));
        }
        else
        {
            _ = Server;
        }
    }

    public HttpClient OpsClient() => ClientWith(DevTokens.For("ops-1", ops: true));

    public HttpClient ClientWith(string? token)
    {
        var client = CreateClient();
        if (token is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return client;
    }

    public ProviderChain<IEcho> Chain => Services.GetRequiredService<ProviderChain<IEcho>>();

    public Task<ChainResult<string>> EchoAsync(string text, string? userId = null)
    {
        using (MeteringContext.ForUser(userId))
        {
            return Chain.ExecuteAsync(new ProviderOperation("echo", "characters"), async (a, c, ct) =>
            {
                var answer = await a.EchoAsync(text, ct);
                c.Units = text.Length;
                return answer;
            }, CancellationToken.None);
        }
    }

    public Task FlushLedgerAsync() => Services.GetRequiredService<UsageLedgerWriter>().FlushAsync(CancellationToken.None);
}
