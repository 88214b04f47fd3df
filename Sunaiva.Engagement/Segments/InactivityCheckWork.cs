using System.Text.Json;
using Dapper;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Engagement.Segments;

/// <summary>
/// The timer of the inactivity segments (kind <c>segment.inactivity</c>), due <see cref="InactivityCheck.Days"/> days after
/// an activity. Reads the user's latest activity in one transaction: inactive long enough, the user enters
/// <c>inactive-{days}</c> (leaving the shorter band) and the next threshold's timer is set; active since, the timer is
/// re-armed for the latest activity (normally already done by that activity's own timer).
/// </summary>
public sealed class InactivityCheckWork(SegmentStore segments, WorkQueue work, TimeProvider time) : IWorkHandler
{
    public const string WorkKind = "segment.inactivity";

    public string Kind => WorkKind;

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var check = JsonSerializer.Deserialize<InactivityCheck>(context.Item.Payload, EventJson.Options)
            ?? throw new PermanentWorkFailureException("empty inactivity check");
        await context.CommitAsync(async (connection, tx, ct) =>
        {
            var last = await connection.QuerySingleOrDefaultAsync<DateTime?>(new CommandDefinition(
                "SELECT last_active_at FROM user_engagement WHERE user_id = @UserId FOR UPDATE", check, tx, cancellationToken: ct));
            if (last is null)
            {
                return;
            }

            var lastAt = new DateTimeOffset(DateTime.SpecifyKind(last.Value, DateTimeKind.Utc));
            var threshold = lastAt.AddDays(check.Days);
            if (time.GetUtcNow() < threshold)
            {
                await ArmAsync(connection, tx, check.UserId, check.Days, lastAt, ct);
                return;
            }

            var shorter = Segments.InactiveDays.Where(d => d < check.Days).Select(Segments.Inactive).ToList();
            if (shorter.Count > 0)
            {
                await SegmentStore.LeaveAsync(connection, tx, shorter, check.UserId, threshold, ct);
            }

            await segments.EnterAsync(connection, tx, Segments.Inactive(check.Days), check.UserId, threshold, ct);

            if (Segments.InactiveDays.FirstOrDefault(d => d > check.Days) is > 0 and var next)
            {
                await ArmAsync(connection, tx, check.UserId, next, lastAt, ct);
            }
        }, cancellationToken);
    }

    private Task<int> ArmAsync(Npgsql.NpgsqlConnection connection, Npgsql.NpgsqlTransaction tx, string userId, int days, DateTimeOffset lastAt, CancellationToken ct) =>
        work.EnqueueAsync(connection, tx, new NewWork(
            WorkKind,
            $"inactive:{userId}:{days}:{lastAt.UtcTicks}",
            JsonSerializer.Serialize(new InactivityCheck(userId, days), EventJson.Options),
            PartitionKey: "user:" + userId,
            RunAt: lastAt.AddDays(days)), ct);
}
