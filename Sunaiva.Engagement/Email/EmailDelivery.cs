using System.Net;
using MimeKit;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Mail;

namespace Sunaiva.Engagement.Email;

/// <summary>A way to hand a message to a mail server: the capability <c>email-delivery</c>.</summary>
public interface IEmailTransport : IProviderAdapter
{
    Task SendAsync(MimeMessage message, CancellationToken cancellationToken);
}

/// <summary>
/// The <c>smtp</c> connection: maildev or MailPit on loopback in development ("smtp-local"), an ESP's SMTP
/// relay otherwise ("smtp-relay"), so the price book charges what the provider charges.
/// </summary>
public sealed class SmtpTransport(SmtpTransport.Pool pool) : IEmailTransport
{
    public string Provider { get; } = IsLoopback(pool.Clients.Connection.Host) ? "smtp-local" : "smtp-relay";

    public bool IsAvailable => true;

    /// <summary>
    /// A refusal of this message (a 5xx on the recipient, sender or content, an address MimeKit cannot parse) is a
    /// <see cref="PermanentFailureException"/>: that message fails alone and the breaker does not count it.
    /// </summary>
    public async Task SendAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await pool.Clients.SendAsync(message, cancellationToken);
        }
        catch (MailKit.Net.Smtp.SmtpCommandException ex) when (EmailSendWork.IsPermanent(ex))
        {
            throw new PermanentFailureException(Provider, $"SMTP {(int)ex.StatusCode} {ex.ErrorCode}", ex);
        }
        catch (ParseException ex)
        {
            throw new PermanentFailureException(Provider, "unparsable address", ex);
        }
    }

    /// <summary>The primary server's kept-open connections (connection string <c>smtp</c>).</summary>
    public sealed class Pool(SmtpConnection connection, TimeProvider time) : IDisposable
    {
        public SmtpClientPool Clients { get; } = new(connection, time);

        public void Dispose() => Clients.Dispose();
    }

    private static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
}

/// <summary>Sends mail through the <c>email-delivery</c> chain: metered (one email each), behind a breaker.</summary>
public sealed class EmailDelivery(ProviderChain<IEmailTransport> chain)
{
    public const string Capability = "email-delivery";

    private static readonly ProviderOperation Send = new("send", Unit: "emails", Idempotent: false);

    public async Task<ChainResult<bool>> SendAsync(MimeMessage message, string? userId, CancellationToken cancellationToken)
    {
        using var _ = MeteringContext.ForUser(userId);
        return await chain.ExecuteAsync(
            Send,
            async (transport, call, token) =>
            {
                await transport.SendAsync(message, token);
                call.Units = 1;
                return true;
            },
            cancellationToken);
    }
}
