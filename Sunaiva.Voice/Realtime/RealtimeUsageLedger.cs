using Dapper;
using Npgsql;

namespace Sunaiva.Voice.Realtime;

/// <summary>The day's cloud realtime seconds of one user: what is used, what is left.</summary>
public sealed record RealtimeAllowance(int LimitSeconds, int UsedSeconds)
{
    public int RemainingSeconds => Math.Max(LimitSeconds - UsedSeconds, 0);
}

/// <summary>
/// Cloud realtime minutes per user per UTC day, in <c>voice_realtime_usage</c>. A reservation is taken under a per-user
/// advisory lock (so two mints at once cannot both spend the last minutes) and committed before OpenAI is called.
/// </summary>
public sealed class RealtimeUsageLedger(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string UsedToday =
        "SELECT coalesce(sum(coalesce(used_seconds, reserved_seconds)), 0)::int FROM voice_realtime_usage WHERE user_id = @userId AND day = @day AND NOT released";

    public DateOnly Today => DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);

    /// <summary>When today's allowance resets (the next UTC midnight).</summary>
    public DateTimeOffset ResetsAt => new(Today.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    public TimeSpan UntilReset => ResetsAt - time.GetUtcNow();

    public async Task<RealtimeAllowance> AllowanceAsync(string userId, int limitSeconds, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var used = await connection.ExecuteScalarAsync<int>(new CommandDefinition(UsedToday, new { userId, day = Today }, cancellationToken: ct));
        return new RealtimeAllowance(limitSeconds, used);
    }

    /// <summary>
    /// Reserves up to <paramref name="maxSeconds"/> of what is left today for a new session; null when nothing (less than
    /// <paramref name="minSeconds"/>) is left. The reservation is committed when this returns. Idempotent by session id:
    /// a session that holds a reservation gets it back unchanged; one whose mint failed (released) reserves afresh.
    /// </summary>
    public async Task<(int Seconds, RealtimeAllowance Before)?> ReserveAsync(string sessionId, string userId, int limitSeconds, int maxSeconds, int minSeconds, string voiceId, string model, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtext('voice-realtime:' || @userId))", new { userId }, tx, cancellationToken: ct));
        var day = Today;
        var existing = await connection.QuerySingleOrDefaultAsync<(string UserId, int Reserved, bool Released)?>(new CommandDefinition(
            "SELECT user_id, reserved_seconds, released FROM voice_realtime_usage WHERE session_id = @sessionId", new { sessionId }, tx, cancellationToken: ct));
        if (existing is { } row && row.UserId != userId)
        {
            throw new InvalidOperationException("The realtime session id belongs to another user.");
        }

        var used = await connection.ExecuteScalarAsync<int>(new CommandDefinition(UsedToday, new { userId, day }, tx, cancellationToken: ct));
        if (existing is { Released: false } kept)
        {
            // The same session asked again (a retried request): it keeps its reservation, nothing more is spent.
            await tx.CommitAsync(ct);
            return (kept.Reserved, new RealtimeAllowance(limitSeconds, used - kept.Reserved));
        }

        var before = new RealtimeAllowance(limitSeconds, used);
        var seconds = Math.Min(before.RemainingSeconds, maxSeconds);
        if (seconds < minSeconds)
        {
            return null;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO voice_realtime_usage (session_id, user_id, day, reserved_seconds, voice_id, model, created_at)
            VALUES (@sessionId, @userId, @day, @seconds, @voiceId, @model, @now)
            ON CONFLICT (session_id) DO UPDATE SET released = false, day = excluded.day, reserved_seconds = excluded.reserved_seconds,
                used_seconds = NULL, reported_at = NULL, created_at = excluded.created_at
            """,
            new { sessionId, userId, day, seconds, voiceId, model, now = time.GetUtcNow() }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return (seconds, before);
    }

    /// <summary>Gives a reservation back (the key was not minted). Idempotent.</summary>
    public async Task ReleaseAsync(string sessionId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE voice_realtime_usage SET released = true WHERE session_id = @sessionId", new { sessionId }, cancellationToken: ct));
    }

    /// <summary>
    /// Replaces a session's reservation by the seconds it really lasted (capped at the reservation: the key granted no
    /// more). Repeating a report changes nothing; a later report replaces an earlier one. False when the session is not
    /// the user's (or does not exist).
    /// </summary>
    public async Task<RealtimeUsageReport?> ReportAsync(string sessionId, string userId, int seconds, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<RealtimeUsageReport>(new CommandDefinition(
            """
            UPDATE voice_realtime_usage SET used_seconds = least(@seconds, reserved_seconds), reported_at = @now
            WHERE session_id = @sessionId AND user_id = @userId AND NOT released
            RETURNING session_id AS sessionid, reserved_seconds AS reservedseconds, used_seconds AS usedseconds
            """,
            new { sessionId, userId, seconds, now = time.GetUtcNow() }, cancellationToken: ct));
    }
}

/// <summary>A session's reconciled usage: seconds reserved when its key was minted, seconds counted now.</summary>
public sealed record RealtimeUsageReport(string SessionId, int ReservedSeconds, int UsedSeconds);
