using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Engagement.Experiments;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Engagement.Segments;

/// <summary>
/// Segment membership, changed one user at a time in the transaction of the event (or timer) that makes it true.
/// Entering a segment schedules each of its campaigns for that user at their send hour; leaving it (the user came back)
/// makes those scheduled sends stop, since <see cref="ReengagementSendWork"/> sends only to a user still in it.
/// </summary>
public sealed class SegmentStore(WorkQueue work, ExperimentService experiments, IOptions<ReengagementOptions> options, TimeProvider time)
{
    public ReengagementOptions Options => options.Value;

    /// <summary>Puts the user in <paramref name="segment"/> as of <paramref name="at"/>; true when they were not in it.</summary>
    public async Task<bool> EnterAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string segment, string userId, DateTimeOffset at, CancellationToken ct)
    {
        var entered = await connection.ExecuteAsync(new CommandDefinition(
            """
            WITH ins AS (INSERT INTO segment_members (segment, user_id, entered_at) VALUES (@segment, @userId, @at) ON CONFLICT DO NOTHING RETURNING 1)
            INSERT INTO segment_changes (segment, user_id, change, at) SELECT @segment, @userId, 'entered', @at FROM ins
            """,
            new { segment, userId, at }, tx, cancellationToken: ct));
        if (entered == 0)
        {
            return false;
        }

        foreach (var campaign in options.Value.Campaigns.Where(c => c.Segment == segment))
        {
            await ScheduleAsync(connection, tx, campaign, userId, at, ct);
        }

        return true;
    }

    /// <summary>Takes the user out of each of <paramref name="segments"/> they are in; the number left.</summary>
    public static Task<int> LeaveAsync(NpgsqlConnection connection, NpgsqlTransaction tx, IReadOnlyCollection<string> segments, string userId, DateTimeOffset at, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            WITH del AS (DELETE FROM segment_members WHERE user_id = @userId AND segment = ANY(@segments) RETURNING segment)
            INSERT INTO segment_changes (segment, user_id, change, at) SELECT segment, @userId, 'left', @at FROM del
            """,
            new { segments = segments.ToArray(), userId, at }, tx, cancellationToken: ct));

    /// <summary>The user's best send hour (UTC): the hour of most first opens once there are enough of them, else the default.</summary>
    public static async Task<int> BestHourAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string userId, ReengagementOptions o, CancellationToken ct)
    {
        var row = await connection.QuerySingleOrDefaultAsync<OpenHours>(new CommandDefinition(
            "SELECT open_hours AS hours, opens_counted AS opens FROM user_engagement WHERE user_id = @userId", new { userId }, tx, cancellationToken: ct));
        return row is null ? o.DefaultSendHour : BestHour(row.Hours, row.Opens, o);
    }

    /// <summary>The hour with most opens (the earliest of equals) when <see cref="ReengagementOptions.MinOpensForBestHour"/> are counted.</summary>
    public static int BestHour(int[] hours, int opens, ReengagementOptions o)
    {
        if (opens < o.MinOpensForBestHour || hours.Length != 24)
        {
            return o.DefaultSendHour;
        }

        var best = 0;
        for (var h = 1; h < 24; h++)
        {
            if (hours[h] > hours[best])
            {
                best = h;
            }
        }

        return best;
    }

    /// <summary>Counts a message's first open at its UTC hour (the tracking pixel or a click), in the caller's statement batch.</summary>
    public static Task CountOpenAsync(NpgsqlConnection connection, string userId, DateTimeOffset at, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO user_engagement (user_id, open_hours, opens_counted) VALUES (@userId, array_fill(0, ARRAY[24]), 1)
            ON CONFLICT (user_id) DO UPDATE SET opens_counted = user_engagement.opens_counted + 1;
            UPDATE user_engagement SET open_hours[@slot] = open_hours[@slot] + 1 WHERE user_id = @userId;
            """,
            new { userId, slot = at.UtcDateTime.Hour + 1 }, cancellationToken: ct));

    /// <summary>The first moment at or after <paramref name="from"/> whose UTC hour is <paramref name="hour"/>.</summary>
    public static DateTimeOffset NextAt(DateTimeOffset from, int hour)
    {
        var candidate = new DateTimeOffset(from.UtcDateTime.Date, TimeSpan.Zero).AddHours(hour);
        return candidate >= from ? candidate : candidate.AddDays(1);
    }

    private async Task ScheduleAsync(NpgsqlConnection connection, NpgsqlTransaction tx, ReengagementCampaign campaign, string userId, DateTimeOffset enteredAt, CancellationToken ct)
    {
        var language = await connection.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(
            "SELECT language FROM users WHERE id = @userId", new { userId }, tx, cancellationToken: ct));
        // The variant (template and, for a send-time experiment, the hour) is chosen now, when the send is scheduled.
        var choice = await experiments.ChooseAsync(connection, tx, campaign.Template, userId, language, ct);
        var hour = choice.SendHour ?? await BestHourAsync(connection, tx, userId, options.Value, ct);
        var runAt = NextAt(time.GetUtcNow(), hour);
        var payload = new ReengagementPayload(campaign.Id, campaign.Segment, userId, enteredAt, choice.Template, choice.Experiment, choice.Variant, choice.Phase);
        await work.EnqueueAsync(connection, tx, new NewWork(
            ReengagementSendWork.WorkKind,
            $"reengage:{campaign.Id}:{userId}:{enteredAt.UtcTicks}",
            JsonSerializer.Serialize(payload, EventJson.Options),
            PartitionKey: "user:" + userId,
            RunAt: runAt), ct);
    }

    private sealed class OpenHours
    {
        public int[] Hours { get; set; } = [];

        public int Opens { get; set; }
    }
}

/// <summary>A scheduled re-engagement send: the campaign, the segment entry it answers and the variant chosen.</summary>
public sealed record ReengagementPayload(string Campaign, string Segment, string UserId, DateTimeOffset EnteredAt, string Template, string? Experiment, string? Variant, string? Phase);
