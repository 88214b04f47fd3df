using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using MimeKit;

namespace Sunaiva.ServiceDefaults.Mail;

/// <summary>Where mail goes: parsed from the <c>smtp</c> connection string (<c>Endpoint=smtp://host:port[;Username=..;Password=..]</c>).</summary>
public sealed record SmtpConnection(string Host, int Port, string? Username, string? Password, bool UseTls)
{
    public static SmtpConnection Parse(string connectionString)
    {
        var parts = connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.OrdinalIgnoreCase);
        if (!parts.TryGetValue("Endpoint", out var endpoint) || !Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
        {
            throw new InvalidOperationException($"ConnectionStrings:{ResourceNames.Smtp} has no Endpoint=smtp://host:port.");
        }

        return new SmtpConnection(uri.Host, uri.Port > 0 ? uri.Port : 25, parts.GetValueOrDefault("Username"), parts.GetValueOrDefault("Password"), uri.Scheme == "smtps");
    }
}

/// <summary>Sends one message over SMTP with MailKit.</summary>
public sealed class SmtpSender(SmtpConnection connection)
{
    public SmtpConnection Connection => connection;

    public async Task SendAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        using var client = new SmtpClient { Timeout = 15_000 };
        await client.ConnectAsync(connection.Host, connection.Port, connection.UseTls ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.None, cancellationToken);
        if (!string.IsNullOrEmpty(connection.Username))
        {
            await client.AuthenticateAsync(connection.Username, connection.Password ?? string.Empty, cancellationToken);
        }

        await client.SendAsync(message, cancellationToken);
        await client.DisconnectAsync(true, cancellationToken);
    }
}

public static class SmtpExtensions
{
    public static IHostApplicationBuilder AddSunaivaSmtp(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString(ResourceNames.Smtp)
            ?? throw new InvalidOperationException($"ConnectionStrings:{ResourceNames.Smtp} is not configured; the AppHost passes it.");
        var connection = SmtpConnection.Parse(connectionString);
        builder.Services.AddSingleton(connection);
        builder.Services.AddSingleton<SmtpSender>();
        builder.Services.AddHealthChecks().AddCheck<SmtpHealthCheck>(ResourceNames.Smtp, tags: ["ready"]);
        return builder;
    }
}

internal sealed class SmtpHealthCheck(SmtpConnection connection) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(connection.Host, connection.Port, cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            return HealthCheckResult.Unhealthy("SMTP server does not accept connections", ex);
        }
    }
}
