using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Sunaiva.Engagement.Email;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Engagement.Segments;

/// <summary>
/// A re-engagement mail due at the user's send hour (kind <c>reengage.send</c>). In one transaction, under a per-user lock:
/// nothing when the user has left the segment since (came back, payment recovered) or when the frequency cap is
/// reached (optional-category messages of every campaign in the window count); otherwise the message is queued once per
/// segment entry.
/// </summary>
public sealed partial class ReengagementSendWork(EmailOutbox outbox, IOptions<ReengagementOptions> options, TimeProvider time, ILogger<ReengagementSendWork> logger) : IWorkHandler
{
    public const string WorkKind = "reengage.send";

    public string Kind => WorkKind;

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var p = JsonSerializer.Deserialize<ReengagementPayload>(context.Item.Payload, EventJson.Options)
            ?? throw new PermanentWorkFailureException("empty re-engagement send");
        var o = options.Value;
        await context.CommitAsync(async (connection, tx, ct) =>
        {
            // One campaign decision per user at a time: two campaigns due together cannot both pass the cap.
            await connection.ExecuteAsync(new CommandDefinition(
                "SELECT pg_advisory_xact_lock(hashtextextended('cap:' || @UserId, 13))", p, tx, cancellationToken: ct));
            var still = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM segment_members WHERE segment = @Segment AND user_id = @UserId AND entered_at = @EnteredAt)",
                p, tx, cancellationToken: ct));
            if (!still)
            {
                LogStopped(logger, p.Campaign);
                return;
            }

            var now = time.GetUtcNow();
            var recent = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT count(*) FROM sent_emails WHERE user_id = @UserId AND category <> 'transactional' AND queued_at > @since AND status IN ('queued', 'sent')",
                new { p.UserId, since = now - o.CapWindow }, tx, cancellationToken: ct));
            if (recent >= o.CapMessages)
            {
                LogCapped(logger, p.Campaign);
                return;
            }

            var user = await connection.QuerySingleOrDefaultAsync<UserRow>(new CommandDefinition(
                "SELECT email, name, language FROM users WHERE id = @UserId", p, tx, cancellationToken: ct));
            if (user is null)
            {
                return;
            }

            var days = Segments.InactiveDays.FirstOrDefault(d => Segments.Inactive(d) == p.Segment);
            await outbox.QueueAsync(connection, tx, new EmailRequest(
                p.UserId, $"reengage:{p.Campaign}:{p.EnteredAt.UtcTicks}", p.Template, EmailCategories.Reengagement, user.Email, user.Name, user.Language,
                new Dictionary<string, object?> { ["segment"] = p.Segment, ["campaign"] = p.Campaign, ["days"] = days },
                p.Variant, p.Experiment, p.Phase), ct);
        }, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-engagement {Campaign} not sent: the user left the segment")]
    private static partial void LogStopped(ILogger logger, string campaign);

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-engagement {Campaign} not sent: frequency cap reached")]
    private static partial void LogCapped(ILogger logger, string campaign);

    private sealed record UserRow(string Email, string? Name, string? Language);
}
