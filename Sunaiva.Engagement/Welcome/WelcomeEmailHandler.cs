using System.Net;
using Dapper;
using MimeKit;
using Npgsql;
using Sunaiva.ServiceDefaults.Events;
using Sunaiva.ServiceDefaults.Mail;

namespace Sunaiva.Engagement.Welcome;

/// <summary>Sends the first welcome email when a user signs up; once per user, whatever the redeliveries.</summary>
public sealed class WelcomeEmailHandler(Email.EmailDelivery email, EmailSettings settings, TimeProvider time) : IIntegrationEventHandler
{
    public const string Kind = "welcome-1";

    public IReadOnlyCollection<string> EventTypes { get; } = [ServiceDefaults.Events.EventTypes.UserSignedUp];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var user = integrationEvent.DataAs<UserSignedUp>();
        var subject = $"Welcome to Sunaiva, {FirstName(user)}";
        var recorded = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO sent_emails (id, user_id, kind, recipient, subject, sent_at) VALUES (@id, @userId, @kind, @recipient, @subject, @at)
            ON CONFLICT (user_id, kind) DO NOTHING
            """,
            new { id = $"mail_{Guid.CreateVersion7():N}", userId = user.Id, kind = Kind, recipient = user.Email, subject, at = time.GetUtcNow() },
            transaction, cancellationToken: cancellationToken));
        if (recorded == 0)
        {
            return;
        }

        // Sent inside the transaction: if sending fails the row is rolled back and the event retried.
        await email.SendAsync(Compose(user, subject), user.Id, cancellationToken);
    }

    private MimeMessage Compose(UserSignedUp user, string subject)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(settings.FromName, settings.FromAddress));
        message.To.Add(new MailboxAddress(user.Name ?? user.Email, user.Email));
        message.Subject = subject;
        var name = WebUtility.HtmlEncode(FirstName(user));
        var builder = new BodyBuilder
        {
            TextBody = $"Hi {FirstName(user)},\n\nWelcome to Sunaiva. Your companion remembers what matters to you.\n\nThe Sunaiva team",
            HtmlBody = $"<p>Hi {name},</p><p>Welcome to Sunaiva. Your companion remembers what matters to you.</p><p>The Sunaiva team</p>",
        };
        message.Body = builder.ToMessageBody();
        message.Headers.Add("X-Sunaiva-Kind", Kind);
        return message;
    }

    private static string FirstName(UserSignedUp user) =>
        string.IsNullOrWhiteSpace(user.Name) ? "friend" : user.Name.Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
}

/// <summary>Sender identity of our emails (section <c>Email</c>).</summary>
public sealed class EmailSettings
{
    public string FromAddress { get; set; } = "hello@sunaiva.local";

    public string FromName { get; set; } = "Sunaiva";
}
