using System.Text.Json;
using Dapper;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Engagement.BillingMail;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Engagement.Segments;

/// <summary>
/// Keeps the segments as events arrive, in each event's transaction (database work only):
/// <list type="bullet">
/// <item><c>user.signed_up</c>, <c>user.active</c> (and <c>voice.session.ended</c>, <c>file.indexed</c>: using the product is activity): the user's last activity and weekly counts; coming back leaves every
/// inactivity segment (their scheduled re-engagement mails then stop); the first activity of a new week decides
/// "falling activity" from the two finished weeks before it; an inactivity timer is set for 7 days after the activity.</item>
/// <item><c>payment.failed</c> enters <c>payment-failed</c>, <c>payment.recovered</c> leaves it.</item>
/// </list>
/// No nightly rebuild: time-driven entries (7/14/30 days without activity) come from <see cref="InactivityCheckWork"/>,
/// one delayed work item per user and day of activity.
/// </summary>
public sealed class SegmentEventsHandler(SegmentStore segments, WorkQueue work) : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } =
    [
        Sunaiva.Contracts.EventTypes.UserSignedUp, Sunaiva.Contracts.EventTypes.UserActive,
        Sunaiva.Contracts.EventTypes.VoiceSessionEnded, Sunaiva.Contracts.EventTypes.FileIndexed,
        Sunaiva.Contracts.EventTypes.PaymentFailed, Sunaiva.Contracts.EventTypes.PaymentRecovered,
    ];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        switch (integrationEvent.Type)
        {
            case Sunaiva.Contracts.EventTypes.UserSignedUp:
                await ActiveAsync(connection, transaction, integrationEvent.DataAs<UserSignedUp>().Id, integrationEvent.OccurredAt, countsAsActivity: false, cancellationToken);
                break;
            case Sunaiva.Contracts.EventTypes.UserActive:
                var active = integrationEvent.DataAs<UserActive>();
                await ActiveAsync(connection, transaction, active.Id, active.At ?? integrationEvent.OccurredAt, countsAsActivity: true, cancellationToken);
                break;
            case Sunaiva.Contracts.EventTypes.VoiceSessionEnded:
                await ActiveAsync(connection, transaction, integrationEvent.DataAs<Welcome.VoiceSessionEndedData>().UserId, integrationEvent.OccurredAt, countsAsActivity: true, cancellationToken);
                break;
            case Sunaiva.Contracts.EventTypes.FileIndexed:
                await ActiveAsync(connection, transaction, integrationEvent.DataAs<Welcome.FileIndexedData>().UserId, integrationEvent.OccurredAt, countsAsActivity: true, cancellationToken);
                break;
            case Sunaiva.Contracts.EventTypes.PaymentFailed:
                await segments.EnterAsync(connection, transaction, Segments.PaymentFailed, integrationEvent.DataAs<PaymentFailedData>().UserId, integrationEvent.OccurredAt, cancellationToken);
                break;
            default:
                await SegmentStore.LeaveAsync(connection, transaction, [Segments.PaymentFailed], integrationEvent.DataAs<PaymentRecoveredData>().UserId, integrationEvent.OccurredAt, cancellationToken);
                break;
        }
    }

    private async Task ActiveAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string userId, DateTimeOffset at, bool countsAsActivity, CancellationToken ct)
    {
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO user_engagement (user_id) VALUES (@userId) ON CONFLICT DO NOTHING", new { userId }, tx, cancellationToken: ct));
        var row = await connection.QuerySingleAsync<Activity>(new CommandDefinition(
            """
            SELECT last_active_at AS lastactiveat, week_start AS weekstart, this_week AS thisweek, last_week AS lastweek, week_before AS weekbefore
            FROM user_engagement WHERE user_id = @userId FOR UPDATE
            """,
            new { userId }, tx, cancellationToken: ct));
        if (row.LastActiveAt is { } last && at <= new DateTimeOffset(DateTime.SpecifyKind(last, DateTimeKind.Utc)))
        {
            return; // an older event arriving late changes nothing
        }

        var week = WeekOf(at);
        var (thisWeek, lastWeek, weekBefore, rolled) = (row.ThisWeek, row.LastWeek, row.WeekBefore, false);
        if (countsAsActivity)
        {
            var start = row.WeekStart;
            if (start is null)
            {
                thisWeek = 1;
            }
            else if (week == start)
            {
                thisWeek++;
            }
            else if (week > start)
            {
                var weeks = (week.DayNumber - start.Value.DayNumber) / 7;
                (weekBefore, lastWeek) = weeks switch
                {
                    1 => (lastWeek, thisWeek),
                    2 => (thisWeek, 0),
                    _ => (0, 0),
                };
                thisWeek = 1;
                rolled = true;
            }
        }

        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE user_engagement SET last_active_at = @at, week_start = @week, this_week = @thisWeek, last_week = @lastWeek, week_before = @weekBefore
            WHERE user_id = @userId
            """,
            new { userId, at, week = countsAsActivity || row.WeekStart is null ? week.ToDateTime(TimeOnly.MinValue) : row.WeekStart.Value.ToDateTime(TimeOnly.MinValue), thisWeek, lastWeek, weekBefore }, tx, cancellationToken: ct));

        // Back: every inactivity segment is left (the mails it scheduled stop).
        await SegmentStore.LeaveAsync(connection, tx, [Segments.Inactive7, Segments.Inactive14, Segments.Inactive30], userId, at, ct);
        if (rolled)
        {
            var o = segments.Options;
            var falling = weekBefore >= o.FallingMinWeekly && lastWeek <= weekBefore * o.FallingRatio;
            if (falling)
            {
                await segments.EnterAsync(connection, tx, Segments.FallingActivity, userId, at, ct);
            }
            else
            {
                await SegmentStore.LeaveAsync(connection, tx, [Segments.FallingActivity], userId, at, ct);
            }
        }

        // One timer per user and day of activity; when it fires it looks at the latest activity (and re-arms if needed).
        var days = Segments.InactiveDays[0];
        await work.EnqueueAsync(connection, tx, new NewWork(
            InactivityCheckWork.WorkKind,
            $"inactive:{userId}:{days}:{at.UtcDateTime:yyyyMMdd}",
            JsonSerializer.Serialize(new InactivityCheck(userId, days), EventJson.Options),
            PartitionKey: "user:" + userId,
            RunAt: at.AddDays(days)), ct);
    }

    /// <summary>The Monday (UTC) of <paramref name="at"/>'s week.</summary>
    public static DateOnly WeekOf(DateTimeOffset at)
    {
        var day = DateOnly.FromDateTime(at.UtcDateTime);
        return day.AddDays(-(((int)day.DayOfWeek + 6) % 7));
    }

    private sealed record Activity(DateTime? LastActiveAt, DateOnly? WeekStart, int ThisWeek, int LastWeek, int WeekBefore);
}

/// <summary>Payload of <c>segment.inactivity</c>: check whether the user has been inactive <see cref="Days"/> days.</summary>
public sealed record InactivityCheck(string UserId, int Days);
