using System.Collections.Concurrent;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Sunaiva.ServiceDefaults.Mail;

namespace Sunaiva.Engagement.Email;

/// <summary>
/// Kept-open MailKit connections to one SMTP server (a connection per message costs about 3x the throughput: see
/// docs/email.md). A client is used by one send at a time; one that failed is dropped, never returned. A connection idle
/// longer than <see cref="IdleCheck"/> is checked with NOOP first, so a server that closed it costs no failed send.
/// </summary>
public sealed class SmtpClientPool(SmtpConnection connection, TimeProvider time, int maxIdle = 4) : IDisposable
{
    private static readonly TimeSpan IdleCheck = TimeSpan.FromSeconds(10);
    private readonly ConcurrentBag<(SmtpClient Client, DateTimeOffset LastUsed)> _idle = [];

    public SmtpConnection Connection => connection;

    public async Task SendAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        var client = await RentAsync(cancellationToken);
        try
        {
            await client.SendAsync(message, cancellationToken);
        }
        catch
        {
            client.Dispose();
            throw;
        }

        if (_idle.Count < maxIdle)
        {
            _idle.Add((client, time.GetUtcNow()));
        }
        else
        {
            await client.DisconnectAsync(true, cancellationToken);
            client.Dispose();
        }
    }

    private async Task<SmtpClient> RentAsync(CancellationToken cancellationToken)
    {
        while (_idle.TryTake(out var idle))
        {
            if (idle.Client.IsConnected && (time.GetUtcNow() - idle.LastUsed < IdleCheck || await StillOpenAsync(idle.Client, cancellationToken)))
            {
                return idle.Client;
            }

            idle.Client.Dispose();
        }

        var client = new SmtpClient { Timeout = 15_000 };
        try
        {
            await client.ConnectAsync(connection.Host, connection.Port, connection.UseTls ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.None, cancellationToken);
            if (!string.IsNullOrEmpty(connection.Username))
            {
                await client.AuthenticateAsync(connection.Username, connection.Password ?? string.Empty, cancellationToken);
            }
        }
        catch
        {
            client.Dispose();
            throw;
        }

        return client;
    }

    private static async Task<bool> StillOpenAsync(SmtpClient client, CancellationToken cancellationToken)
    {
        try
        {
            await client.NoOpAsync(cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is MailKit.ServiceNotConnectedException or MailKit.Net.Smtp.SmtpProtocolException or SmtpCommandException or IOException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        while (_idle.TryTake(out var idle))
        {
            idle.Client.Dispose();
        }
    }
}
