using Dapper;
using Microsoft.AspNetCore.DataProtection;
using Npgsql;

namespace Sunaiva.Media.Drive;

/// <summary>A connection as the API shows it: never a token.</summary>
public sealed record DriveConnectionView(string Status, IReadOnlyList<string> Scopes, string? Email, DateTime ConnectedAt, DateTime? LastSyncAt);

/// <summary>A connection with its tokens unprotected, for the gateway only.</summary>
public sealed record DriveConnection(
    string UserId,
    string Status,
    string Scopes,
    string? Email,
    string AccessToken,
    string? RefreshToken,
    DateTimeOffset AccessExpiresAt,
    string? PageToken,
    string? ChannelId,
    DateTimeOffset? ChannelExpiresAt,
    int ThrottleStreak,
    string? SyncSchedule)
{
    public const string Connected = "connected";
    public const string Reconsent = "reconsent";
}

/// <summary>
/// <c>drive_connections</c>: one row per user. Access and refresh tokens are protected with ASP.NET Data Protection (keys in
/// Redis, see <see cref="DriveExtensions"/>), so the database alone never yields a usable token.
/// </summary>
public sealed class DriveConnectionStore(NpgsqlDataSource dataSource, IDataProtectionProvider protection, TimeProvider time)
{
    private readonly IDataProtector _tokens = protection.CreateProtector("Sunaiva.Media.Drive.Tokens.v1");

    public string Protect(string secret) => _tokens.Protect(secret);

    public string Unprotect(string protectedSecret) => _tokens.Unprotect(protectedSecret);

    public async Task<DriveConnectionView?> GetViewAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<(string Status, string Scopes, string? Email, DateTime ConnectedAt, DateTime? LastSyncAt)>(new CommandDefinition(
            "SELECT status, scopes, email, connected_at, last_sync_at FROM drive_connections WHERE user_id = @userId", new { userId }, cancellationToken: ct));
        return row.Status is null ? null : new DriveConnectionView(row.Status == DriveConnection.Reconsent ? "reconsent_required" : "connected", SplitScopes(row.Scopes), row.Email, row.ConnectedAt, row.LastSyncAt);
    }

    public async Task<DriveConnection?> GetAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            """
            SELECT user_id AS userid, status, scopes, email, access_token AS accesstoken, refresh_token AS refreshtoken,
                   access_expires_at AS accessexpiresat, page_token AS pagetoken, channel_id AS channelid,
                   channel_expires_at AS channelexpiresat, throttle_streak AS throttlestreak, sync_schedule AS syncschedule
            FROM drive_connections WHERE user_id = @userId
            """,
            new { userId }, cancellationToken: ct));
        return row is null
            ? null
            : new DriveConnection(row.UserId, row.Status, row.Scopes, row.Email, _tokens.Unprotect(row.AccessToken),
                row.RefreshToken is null ? null : _tokens.Unprotect(row.RefreshToken), Utc(row.AccessExpiresAt), row.PageToken, row.ChannelId,
                row.ChannelExpiresAt is { } c ? Utc(c) : null, row.ThrottleStreak, row.SyncSchedule);
    }

    /// <summary>
    /// Stores a fresh grant; a response without a refresh token (incremental consent) keeps the one stored. <paramref name="syncSchedule"/>
    /// names the chain of scheduled syncs this consent starts: a chain started by an earlier consent stops at its next run.
    /// </summary>
    public Task SaveGrantAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string userId, string scopes, string? email, string accessToken, string? refreshToken, DateTimeOffset expiresAt, string syncSchedule, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO drive_connections (user_id, status, scopes, email, access_token, refresh_token, access_expires_at, sync_schedule, connected_at, updated_at)
            VALUES (@userId, 'connected', @scopes, @email, @access, @refresh, @expiresAt, @syncSchedule, @now, @now)
            ON CONFLICT (user_id) DO UPDATE SET status = 'connected', scopes = EXCLUDED.scopes, email = COALESCE(EXCLUDED.email, drive_connections.email),
                access_token = EXCLUDED.access_token, refresh_token = COALESCE(EXCLUDED.refresh_token, drive_connections.refresh_token),
                access_expires_at = EXCLUDED.access_expires_at, throttle_streak = 0, sync_schedule = EXCLUDED.sync_schedule, updated_at = EXCLUDED.updated_at
            """,
            new
            {
                userId, scopes, email, access = _tokens.Protect(accessToken), refresh = refreshToken is null ? null : _tokens.Protect(refreshToken),
                expiresAt, syncSchedule, now = time.GetUtcNow(),
            },
            tx, cancellationToken: ct));

    public async Task SaveAccessTokenAsync(string userId, string accessToken, string? refreshToken, DateTimeOffset expiresAt, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE drive_connections SET access_token = @access, refresh_token = COALESCE(@refresh, refresh_token), access_expires_at = @expiresAt, updated_at = @now
            WHERE user_id = @userId
            """,
            new { userId, access = _tokens.Protect(accessToken), refresh = refreshToken is null ? null : _tokens.Protect(refreshToken), expiresAt, now = time.GetUtcNow() },
            cancellationToken: ct));
    }

    public async Task MarkReconsentAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE drive_connections SET status = 'reconsent', updated_at = @now WHERE user_id = @userId",
            new { userId, now = time.GetUtcNow() }, cancellationToken: ct));
    }

    /// <summary>One more rate-limit answer in a row for this user; returns the streak (drives the back-off).</summary>
    public async Task<int> AddThrottleAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.ExecuteScalarAsync<int?>(new CommandDefinition(
            "UPDATE drive_connections SET throttle_streak = throttle_streak + 1 WHERE user_id = @userId RETURNING throttle_streak",
            new { userId }, cancellationToken: ct)) ?? 1;
    }

    public async Task ResetThrottleAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE drive_connections SET throttle_streak = 0 WHERE user_id = @userId AND throttle_streak > 0", new { userId }, cancellationToken: ct));
    }

    public async Task<string?> UserOfChannelAsync(string channelId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT user_id FROM drive_connections WHERE channel_id = @channelId", new { channelId }, cancellationToken: ct));
    }

    internal static IReadOnlyList<string> SplitScopes(string scopes) => scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private sealed record Row(string UserId, string Status, string Scopes, string? Email, string AccessToken, string? RefreshToken, DateTime AccessExpiresAt,
        string? PageToken, string? ChannelId, DateTime? ChannelExpiresAt, int ThrottleStreak, string? SyncSchedule);
}
