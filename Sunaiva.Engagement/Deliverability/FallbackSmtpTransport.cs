using MimeKit;
using Sunaiva.Engagement.Email;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Mail;

namespace Sunaiva.Engagement.Deliverability;

/// <summary>The second SMTP provider (connection string <c>smtp2</c>), after <see cref="SmtpTransport"/> in the <c>email-delivery</c> chain.</summary>
public sealed class FallbackSmtpTransport(FallbackSmtpTransport.Sender sender) : IEmailTransport
{
    public const string ConnectionName = "smtp2";

    public string Provider => "smtp-fallback";

    public bool IsAvailable => true;

    public async Task SendAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await sender.Smtp.SendAsync(message, cancellationToken);
        }
        catch (MailKit.Net.Smtp.SmtpCommandException ex) when (EmailSendWork.IsPermanent(ex))
        {
            throw new PermanentFailureException(Provider, $"SMTP {(int)ex.StatusCode} {ex.ErrorCode}", ex);
        }
    }

    /// <summary>Its own kept-open connections, apart from the primary's.</summary>
    public sealed class Sender(SmtpConnection connection, TimeProvider time) : IDisposable
    {
        public SmtpClientPool Smtp { get; } = new(connection, time);

        public void Dispose() => Smtp.Dispose();
    }
}
