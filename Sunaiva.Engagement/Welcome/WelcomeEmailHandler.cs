using System.Net;
using MimeKit;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Engagement.Welcome;

/// <summary>Queues the first welcome email when a user signs up; once per user, whatever the redeliveries.</summary>
public sealed class WelcomeEmailHandler(Email.EmailOutbox outbox, EmailSettings settings) : IIntegrationEventHandler
{
    public const string Kind = "welcome-1";

    public IReadOnlyCollection<string> EventTypes { get; } = [Sunaiva.Contracts.EventTypes.UserSignedUp];

    /// <summary>Runs in the event's transaction: the message is stored and its send queued; the send itself is durable work.</summary>
    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var user = integrationEvent.DataAs<UserSignedUp>();
        await outbox.QueueAsync(connection, transaction, user.Id, Kind, Compose(user), cancellationToken);
    }

    private MimeMessage Compose(UserSignedUp user)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(settings.FromName, settings.FromAddress));
        message.To.Add(new MailboxAddress(user.Name ?? user.Email, user.Email));
        message.Subject = $"Welcome to Sunaiva, {FirstName(user)}";
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
