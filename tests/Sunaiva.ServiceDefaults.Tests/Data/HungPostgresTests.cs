using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Sunaiva.ServiceDefaults.Data;
using Sunaiva.ServiceDefaults.Resilience;

namespace Sunaiva.ServiceDefaults.Tests.Data;

/// <summary>
/// Postgres that accepts connections and never answers (a stopped process): the service's data source gives up within its
/// own bounds, as Postgres being down (503), instead of Npgsql's 15 s per connection and 30 s per statement.
/// </summary>
public sealed class HungPostgresTests : IDisposable
{
    private readonly TcpListener _hung = new(IPAddress.Loopback, 0);
    private readonly List<IHost> _hosts = [];

    public HungPostgresTests() => _hung.Start();

    private NpgsqlDataSource DataSource(string extra = "")
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration["ConnectionStrings:hungdb"] =
            $"Host=127.0.0.1;Port={((IPEndPoint)_hung.LocalEndpoint).Port};Username=postgres;Password=unused;Database=hungdb{extra}";
        builder.AddSunaivaDatabase("hungdb", typeof(HungPostgresTests).Assembly);
        var host = builder.Build();
        _hosts.Add(host);
        return host.Services.GetRequiredService<NpgsqlDataSource>();
    }

    [Fact]
    public async Task A_connection_to_postgres_that_never_answers_fails_after_the_services_connect_timeout_as_postgres_being_down()
    {
        var dataSource = DataSource();
        var settings = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);

        using var bounded = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var failure = await Assert.ThrowsAnyAsync<Exception>(async () => await dataSource.OpenConnectionAsync(bounded.Token));

        Assert.False(bounded.IsCancellationRequested, failure.ToString());
        Assert.IsType<NpgsqlException>(failure);
        Assert.Equal(ResourceNames.Postgres, DependencyUnavailableExceptionHandler.Classify(failure));
        Assert.Equal(DatabaseExtensions.ConnectTimeoutSeconds, settings.Timeout);
        Assert.Equal(DatabaseExtensions.CommandTimeoutSeconds, settings.CommandTimeout);
    }

    [Fact]
    public void A_connection_string_that_sets_its_own_timeouts_keeps_them()
    {
        var settings = new NpgsqlConnectionStringBuilder(DataSource(";Timeout=40;Command Timeout=90").ConnectionString);

        Assert.Equal(40, settings.Timeout);
        Assert.Equal(90, settings.CommandTimeout);
    }

    public void Dispose()
    {
        _hosts.ForEach(h => h.Dispose());
        _hung.Stop();
    }
}
