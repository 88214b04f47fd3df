using System.Text.Json;
using Dapper;
using Sunaiva.Engagement.Email;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.Messaging.Work;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Engagement.Deliverability;

/// <summary>
/// Feeds the suppression list from provider events: a hard bounce or a complaint stops all mail to the address
/// (<c>*</c>); a soft bounce is only recorded on its message. Runs as durable work, in the item's completing transaction.
/// </summary>
public sealed class EmailEventsProcessor(SuppressionList suppressions) : IWebhookProcessor
{
    public string Provider => EmailEventsWebhook.ProviderName;

    public async Task ProcessAsync(WebhookEnvelope envelope, WorkContext work, CancellationToken cancellationToken)
    {
        var e = JsonSerializer.Deserialize<EmailProviderEvent>(envelope.Payload, EventJson.Options)
            ?? throw new PermanentWorkFailureException("empty email event");
        var reason = (e.Type, e.BounceType) switch
        {
            ("complaint", _) => SuppressionList.Complaint,
            ("bounce", "hard") => SuppressionList.HardBounce,
            _ => null,
        };
        await work.CommitAsync(async (connection, tx, ct) =>
        {
            if (reason is not null)
            {
                var userId = await connection.QueryFirstOrDefaultAsync<string>(new CommandDefinition(
                    "SELECT id FROM users WHERE lower(email) = lower(@Email) LIMIT 1", e, tx, cancellationToken: ct));
                await suppressions.AddAsync(connection, tx, e.Email, EmailCategories.All, reason, userId, ct);
            }

            if (e.MessageId is { Length: > 0 } messageId)
            {
                await connection.ExecuteAsync(new CommandDefinition(
                    "UPDATE sent_emails SET last_error = @note WHERE id = @id",
                    new { id = messageId.Split('@')[0].Trim('<'), note = $"{e.Type}{(e.BounceType is null ? string.Empty : ":" + e.BounceType)}" }, tx, cancellationToken: ct));
            }
        }, cancellationToken);
    }
}
