using Dapper;
using MimeKit;
using Npgsql;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Engagement.Email;

/// <summary>
/// Queues an email in the caller's transaction: once per (user, kind), rendered once, with a Message-ID derived from
/// its row, and an <c>email.send</c> work item that sends it after the transaction commits.
/// </summary>
public sealed class EmailOutbox(WorkQueue work, TimeProvider time)
{
    /// <summary>Queues the message unless this user already has one of this kind; true when queued now.</summary>
    public async Task<bool> QueueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string userId, string kind, MimeMessage message, CancellationToken cancellationToken)
    {
        var id = $"mail_{Guid.CreateVersion7():N}";
        message.MessageId = $"{id}@sunaiva.local";
        using var mime = new MemoryStream();
        await message.WriteToAsync(mime, cancellationToken);
        var recorded = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO sent_emails (id, user_id, kind, recipient, subject, status, mime, queued_at)
            VALUES (@id, @userId, @kind, @recipient, @subject, 'queued', @mime, @at)
            ON CONFLICT (user_id, kind) DO NOTHING
            """,
            new
            {
                id,
                userId,
                kind,
                recipient = message.To.Mailboxes.First().Address,
                subject = message.Subject,
                mime = System.Text.Encoding.UTF8.GetString(mime.ToArray()),
                at = time.GetUtcNow(),
            },
            transaction,
            cancellationToken: cancellationToken));
        if (recorded == 0)
        {
            return false;
        }

        await work.EnqueueAsync(connection, transaction, new NewWork(EmailSendWork.WorkKind, $"email:{id}", id), cancellationToken);
        return true;
    }
}
