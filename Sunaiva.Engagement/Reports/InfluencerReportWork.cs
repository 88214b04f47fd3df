using System.Text.Json;
using Dapper;
using Npgsql;
using Sunaiva.Engagement.Email;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Engagement.Reports;

/// <summary>Payload of <c>report.influencer</c>.</summary>
/// <param name="Trigger"><see cref="InfluencerReportWork.Monthly"/> or <see cref="InfluencerReportWork.OnPayout"/>.</param>
public sealed record InfluencerReportRequest(string ReferralCode, string Period, string Trigger);

/// <summary>
/// One influencer's performance report for one period (kind <c>report.influencer</c>): the figures are read and the chart
/// drawn with no transaction open, then the message (template <c>influencer-report</c>, the chart inline as a CID image)
/// is queued once per (influencer, period, trigger) in the item's completing transaction.
/// </summary>
public sealed class InfluencerReportWork(NpgsqlDataSource dataSource, EmailOutbox outbox) : IWorkHandler
{
    public const string WorkKind = "report.influencer";
    public const string Monthly = "monthly";
    public const string OnPayout = "payout";
    public const string Template = "influencer-report";

    public string Kind => WorkKind;

    public static NewWork For(string referralCode, string period, string trigger, DateTimeOffset? runAt = null) =>
        new(WorkKind, $"report:{referralCode}:{period}:{trigger}",
            JsonSerializer.Serialize(new InfluencerReportRequest(referralCode, period, trigger), EventJson.Options),
            PartitionKey: "report:" + referralCode, RunAt: runAt);

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var request = JsonSerializer.Deserialize<InfluencerReportRequest>(context.Item.Payload, EventJson.Options)
            ?? throw new PermanentWorkFailureException("empty report request");
        if (!InfluencerReport.IsPeriod(request.Period))
        {
            throw new PermanentWorkFailureException("not a period: " + request.Period);
        }

        Recipient? recipient;
        InfluencerReport report;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            recipient = await connection.QuerySingleOrDefaultAsync<Recipient>(new CommandDefinition(
                "SELECT u.id AS userid, u.email, u.name, u.language FROM influencers i JOIN users u ON u.id = i.user_id WHERE i.referral_code = @ReferralCode",
                request, cancellationToken: cancellationToken));
            if (recipient is null)
            {
                await context.IgnoreAsync("no user known for this referral code", cancellationToken);
                return;
            }

            report = await InfluencerReport.ReadAsync(connection, request.ReferralCode, request.Period, cancellationToken);
        }

        var chart = ReportChart.Png(report.History);
        var cid = $"chart-{request.Period}@sunaiva.local";
        var kind = request.Trigger == OnPayout ? $"{Template}:{request.Period}:payout" : $"{Template}:{request.Period}";
        await context.CommitAsync((connection, tx, ct) => outbox.QueueAsync(connection, tx, new EmailRequest(
            recipient.UserId, kind, Template, EmailCategories.Reports, recipient.Email, recipient.Name, recipient.Language,
            new Dictionary<string, object?> { ["report"] = report.Model(cid), ["trigger"] = request.Trigger },
            Images: [new InlineImage(cid, $"performance-{request.Period}.png", "image/png", chart)]), ct), cancellationToken);
    }

    private sealed record Recipient(string UserId, string Email, string? Name, string? Language);
}
