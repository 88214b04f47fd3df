using Dapper;
using MailKit.Net.Smtp;
using MimeKit;
using Npgsql;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Engagement.Email;

/// <summary>
/// Sends one queued email (kind <c>email.send</c>) through the <c>email-delivery</c> chain with no transaction open,
/// then marks it sent. A suppressed recipient (unsubscribed from its category, hard bounce, complaint) is skipped
/// with status <c>suppressed</c>. A recipient the server refuses fails this message alone; an open circuit delays it without
/// spending its attempts. A crash between the server's acceptance and the mark resends it with the same Message-ID.
/// </summary>
public sealed class EmailSendWork(NpgsqlDataSource dataSource, EmailDelivery delivery, SuppressionList suppressions, Deliverability.DkimSigning dkim, TimeProvider time) : IWorkHandler
{
    public const string WorkKind = "email.send";

    public string Kind => WorkKind;

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var id = context.Item.Payload;
        Queued? row;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            row = await connection.QuerySingleOrDefaultAsync<Queued>(new CommandDefinition(
                "SELECT user_id AS userid, status, mime, recipient, category FROM sent_emails WHERE id = @id", new { id }, cancellationToken: cancellationToken));
        }

        if (row is null || row.Status != "queued" || row.Mime is null)
        {
            await context.IgnoreAsync(row is null ? "no such email" : $"email is {row.Status}", cancellationToken);
            return;
        }

        // Checked at send time, not when queued: an unsubscribe, bounce or complaint in between is honoured.
        var suppressed = await suppressions.FindAsync(row.Recipient, row.Category, cancellationToken);
        if (suppressed is not null)
        {
            await context.CommitAsync((c, tx, ct) => c.ExecuteAsync(new CommandDefinition(
                "UPDATE sent_emails SET status = 'suppressed', last_error = @reason WHERE id = @id AND status = 'queued'",
                new { id, reason = suppressed }, tx, cancellationToken: ct)), cancellationToken);
            return;
        }

        MimeMessage message;
        using (var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(row.Mime)))
        {
            message = await MimeMessage.LoadAsync(stream, cancellationToken);
        }

        dkim.Sign(message);

        try
        {
            await delivery.SendAsync(message, row.UserId, cancellationToken);
        }
        catch (Exception ex) when (IsPermanent(ex))
        {
            await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE sent_emails SET status = 'failed', last_error = @error WHERE id = @id",
                    new { id, error = Describe(ex) }, cancellationToken: cancellationToken));
            }

            throw new PermanentWorkFailureException("the mail server refused this message: " + Describe(ex), ex);
        }

        await context.CommitAsync((c, tx, ct) => c.ExecuteAsync(new CommandDefinition(
            "UPDATE sent_emails SET status = 'sent', sent_at = @at, last_error = NULL WHERE id = @id AND status = 'queued'",
            new { id, at = time.GetUtcNow() }, tx, cancellationToken: ct)), cancellationToken);
    }

    /// <summary>The server refused this message for what it is (recipient, sender, content), not because it is unwell.</summary>
    internal static bool IsPermanent(Exception ex) => ex switch
    {
        ParseException => true,
        SmtpCommandException { ErrorCode: SmtpErrorCode.RecipientNotAccepted or SmtpErrorCode.SenderNotAccepted or SmtpErrorCode.MessageNotAccepted } smtp
            => (int)smtp.StatusCode is >= 500 and < 600,
        Sunaiva.Integration.PermanentFailureException => true,
        _ => ex.InnerException is { } inner && IsPermanent(inner),
    };

    private static string Describe(Exception ex) => (ex.InnerException ?? ex) switch
    {
        SmtpCommandException smtp => $"SMTP {(int)smtp.StatusCode} {smtp.ErrorCode}",
        var e => e.GetType().Name,
    };

    private sealed record Queued(string UserId, string Status, string? Mime, string Recipient, string Category);
}
