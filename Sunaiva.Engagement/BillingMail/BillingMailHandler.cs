using System.Globalization;
using Dapper;
using Npgsql;
using Sunaiva.Engagement.Email;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Engagement.BillingMail;

/// <summary>The fields of Billing's payment events that the emails need (Billing owns the full shape).</summary>
public sealed record PaymentFailedData(string UserId, string InvoiceId, long AmountDue, string Currency, int AttemptCount, DateTimeOffset? NextAttemptAt, DateTimeOffset GraceUntil, bool ActionRequired, string? HostedInvoiceUrl);

public sealed record PaymentRecoveredData(string UserId, string InvoiceId);

public sealed record PayoutStatementData(string InfluencerId, string UserId, string ReferralCode, string Period, long AmountUsd, string? TransferId, string? Reason);

/// <summary>
/// Mails what Billing reports: the dunning email on a failed payment (once per attempt), a confirmation when
/// the payment recovers, and the influencer's monthly payout statement. A user Engagement does not know is skipped.
/// Runs in the event's transaction: each message is rendered from its template, queued once per (user, kind) and sent as durable work.
/// </summary>
public sealed class BillingMailHandler(EmailOutbox outbox) : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } =
        [Sunaiva.Contracts.EventTypes.PaymentFailed, Sunaiva.Contracts.EventTypes.PaymentRecovered, Sunaiva.Contracts.EventTypes.PayoutSent, Sunaiva.Contracts.EventTypes.PayoutFailed];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var mail = integrationEvent.Type switch
        {
            Sunaiva.Contracts.EventTypes.PaymentFailed => Dunning(integrationEvent.DataAs<PaymentFailedData>()),
            Sunaiva.Contracts.EventTypes.PaymentRecovered => Recovered(integrationEvent.DataAs<PaymentRecoveredData>()),
            Sunaiva.Contracts.EventTypes.PayoutSent => Payout("payout-statement", integrationEvent.DataAs<PayoutStatementData>()),
            _ => Payout("payout-failed", integrationEvent.DataAs<PayoutStatementData>()),
        };

        var user = await connection.QuerySingleOrDefaultAsync<Recipient>(new CommandDefinition(
            "SELECT email, name, language FROM users WHERE id = @id", new { id = mail.UserId }, transaction, cancellationToken: cancellationToken));
        if (user is null)
        {
            return;
        }

        await outbox.QueueAsync(connection, transaction,
            new EmailRequest(mail.UserId, mail.Kind, mail.Template, EmailCategories.Transactional, user.Email, user.Name, user.Language, mail.Model),
            cancellationToken);
    }

    private static Mail Dunning(PaymentFailedData data) =>
        new(data.UserId, $"dunning:{data.InvoiceId}:{data.AttemptCount}", "dunning", new Dictionary<string, object?>
        {
            ["payment"] = new Dictionary<string, object?>
            {
                ["amount"] = Money(data.AmountDue, data.Currency),
                ["action_required"] = data.ActionRequired,
                ["next_attempt"] = data.NextAttemptAt is { } next ? Day(next) : null,
                ["grace_until"] = Day(data.GraceUntil),
                ["invoice_url"] = data.HostedInvoiceUrl is { Length: > 0 } url ? url : null,
            },
        });

    private static Mail Recovered(PaymentRecoveredData data) =>
        new(data.UserId, $"payment-recovered:{data.InvoiceId}", "payment-recovered", new Dictionary<string, object?>());

    private static Mail Payout(string template, PayoutStatementData data) =>
        new(data.UserId, $"{template}:{data.Period}", template, new Dictionary<string, object?>
        {
            ["payout"] = new Dictionary<string, object?>
            {
                ["amount"] = Money(data.AmountUsd, "usd"),
                ["period"] = data.Period,
                ["referral_code"] = data.ReferralCode,
                ["transfer_id"] = data.TransferId,
                ["reason"] = data.Reason,
            },
        });

    private static string Money(long minorUnits, string currency) =>
        string.Create(CultureInfo.InvariantCulture, $"{minorUnits / 100m:0.00} {currency.ToUpperInvariant()}");

    private static string Day(DateTimeOffset at) => at.ToString("d MMMM yyyy", CultureInfo.InvariantCulture);

    private sealed record Recipient(string Email, string? Name, string? Language);

    private sealed record Mail(string UserId, string Kind, string Template, IReadOnlyDictionary<string, object?> Model);
}
