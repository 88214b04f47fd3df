using System.Globalization;
using System.Net;
using Dapper;
using MimeKit;
using Npgsql;
using Sunaiva.Engagement.Welcome;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.ServiceDefaults.Mail;

namespace Sunaiva.Engagement.BillingMail;

/// <summary>The fields of Billing's payment events that the emails need (Billing owns the full shape).</summary>
public sealed record PaymentFailedData(string UserId, string InvoiceId, long AmountDue, string Currency, int AttemptCount, DateTimeOffset? NextAttemptAt, DateTimeOffset GraceUntil, bool ActionRequired, string? HostedInvoiceUrl);

public sealed record PaymentRecoveredData(string UserId, string InvoiceId);

public sealed record PayoutStatementData(string InfluencerId, string UserId, string ReferralCode, string Period, long AmountUsd, string? TransferId, string? Reason);

/// <summary>
/// Mails what Billing reports: the dunning email on a failed payment (once per attempt), a confirmation when
/// the payment recovers, and the influencer's monthly payout statement. A user Engagement does not know is skipped.
/// Runs in the event's transaction: each message is queued once per (user, kind) and sent as durable work.
/// </summary>
public sealed class BillingMailHandler(Email.EmailOutbox outbox, EmailSettings settings) : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } =
        [Sunaiva.Contracts.EventTypes.PaymentFailed, Sunaiva.Contracts.EventTypes.PaymentRecovered, Sunaiva.Contracts.EventTypes.PayoutSent, Sunaiva.Contracts.EventTypes.PayoutFailed];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var mail = integrationEvent.Type switch
        {
            Sunaiva.Contracts.EventTypes.PaymentFailed => Dunning(integrationEvent.DataAs<PaymentFailedData>()),
            Sunaiva.Contracts.EventTypes.PaymentRecovered => Recovered(integrationEvent.DataAs<PaymentRecoveredData>()),
            Sunaiva.Contracts.EventTypes.PayoutSent => Statement(integrationEvent.DataAs<PayoutStatementData>()),
            _ => PayoutProblem(integrationEvent.DataAs<PayoutStatementData>()),
        };

        var user = await connection.QuerySingleOrDefaultAsync<Recipient>(new CommandDefinition(
            "SELECT email, name FROM users WHERE id = @id", new { id = mail.UserId }, transaction, cancellationToken: cancellationToken));
        if (user is null)
        {
            return;
        }

        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(settings.FromName, settings.FromAddress));
        message.To.Add(new MailboxAddress(user.Name ?? user.Email, user.Email));
        message.Subject = mail.Subject;
        message.Headers.Add("X-Sunaiva-Kind", mail.Kind.Split(':')[0]);
        message.Body = new BodyBuilder
        {
            TextBody = string.Join("\n\n", mail.Paragraphs),
            HtmlBody = string.Concat(mail.Paragraphs.Select(p => $"<p>{WebUtility.HtmlEncode(p)}</p>")),
        }.ToMessageBody();
        await outbox.QueueAsync(connection, transaction, mail.UserId, mail.Kind, message, cancellationToken);
    }

    private static Mail Dunning(PaymentFailedData data)
    {
        var amount = Money(data.AmountDue, data.Currency);
        var paragraphs = new List<string>
        {
            $"We could not take your payment of {amount} for Sunaiva.",
            data.ActionRequired
                ? "Your bank asks you to confirm the payment."
                : data.NextAttemptAt is { } next ? $"We will try again on {next:d MMMM yyyy}." : "Please update your payment method.",
            $"Your companion and your memories stay available until {data.GraceUntil:d MMMM yyyy}.",
        };
        if (data.HostedInvoiceUrl is { Length: > 0 } url)
        {
            paragraphs.Add($"Pay or update your card here: {url}");
        }

        return new Mail(data.UserId, $"dunning:{data.InvoiceId}:{data.AttemptCount}", "Your Sunaiva payment did not go through", paragraphs);
    }

    private static Mail Recovered(PaymentRecoveredData data) =>
        new(data.UserId, $"payment-recovered:{data.InvoiceId}", "Your Sunaiva payment went through", ["Thank you: your payment went through and your subscription continues."]);

    private static Mail Statement(PayoutStatementData data) =>
        new(data.UserId, $"payout-statement:{data.Period}", $"Your Sunaiva payout for {data.Period}",
            [$"We sent you {Money(data.AmountUsd, "usd")} for {data.Period} (referral code {data.ReferralCode}).", $"Transfer reference: {data.TransferId}."]);

    private static Mail PayoutProblem(PayoutStatementData data) =>
        new(data.UserId, $"payout-failed:{data.Period}", $"Your Sunaiva payout for {data.Period} is delayed",
            [$"We could not send your payout of {Money(data.AmountUsd, "usd")} for {data.Period}: {data.Reason}.", "We will try again with next month's run; your balance is kept."]);

    private static string Money(long minorUnits, string currency) =>
        string.Create(CultureInfo.InvariantCulture, $"{minorUnits / 100m:0.00} {currency.ToUpperInvariant()}");

    private sealed record Recipient(string Email, string? Name);

    private sealed record Mail(string UserId, string Kind, string Subject, IReadOnlyList<string> Paragraphs);
}
