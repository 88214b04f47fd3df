using Dapper;
using Npgsql;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Videos;

/// <summary>A video as the store and the API see it.</summary>
public sealed record VideoRow(
    string Id, string UserId, string Kind, string Style, string Status, int Progress, string? Provider, string? Narration,
    bool Degraded, bool BetterVersion, string? ProviderJobId, string? ProviderStatus, string ObjectPrefix, int Revision,
    double? DurationSeconds, long? Bytes, double? CpuSeconds, string? Error, DateTime CreatedAt, DateTime UpdatedAt, DateTime? ReadyAt,
    DateTime? ProviderSubmittedAt = null)
{
    public bool IsFinal => Status is VideoStatus.Ready or VideoStatus.Failed;

    public string ObjectKey(string file) => $"{ObjectPrefix}r{Revision}/{file}";
}

public static class VideoStatus
{
    public const string Queued = "queued";
    public const string Rendering = "rendering";
    public const string Ready = "ready";
    public const string Failed = "failed";
}

/// <summary>The data of <c>video.ready</c>: Engagement reads the first five fields.</summary>
public sealed record VideoReady(string UserId, string VideoId, string Kind, string? Url, string? WatchUrl, string Style, string Provider, string Narration, bool Degraded, bool Replaced);

/// <summary>The data of <c>video.failed</c>.</summary>
public sealed record VideoFailed(string UserId, string VideoId, string Kind, string Style, string Reason);

/// <summary>Videos and profiles in Media's database; every write is short and never spans a remote call.</summary>
public sealed class VideoStore(NpgsqlDataSource dataSource, WorkQueue work, TimeProvider time)
{
    public const string RenderKind = "video.render";

    private const string Columns =
        """
        id, user_id AS userid, kind, style, status, progress, provider, narration, degraded, better_version AS betterversion,
        provider_job_id AS providerjobid, provider_status AS providerstatus, object_prefix AS objectprefix, revision,
        duration_seconds AS durationseconds, bytes, cpu_seconds AS cpuseconds, error, created_at AS createdat, updated_at AS updatedat, ready_at AS readyat,
        provider_submitted_at AS providersubmittedat
        """;

    /// <summary>Objects of a user live under this prefix of the videos bucket.</summary>
    public static string UserPrefix(string userId) => $"users/{Uri.EscapeDataString(userId)}/";

    public async Task UpsertProfileAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string userId, VideoProfile profile, bool overwrite, CancellationToken ct) =>
        await connection.ExecuteAsync(new CommandDefinition(
            overwrite
                ? """
                  INSERT INTO video_profiles (user_id, name, goals, language, voice, updated_at) VALUES (@userId, @name, @goals, @language, @voice, @at)
                  ON CONFLICT (user_id) DO UPDATE SET name = excluded.name, goals = excluded.goals, language = excluded.language, voice = excluded.voice, updated_at = excluded.updated_at
                  """
                : """
                  INSERT INTO video_profiles (user_id, name, goals, language, voice, updated_at) VALUES (@userId, @name, @goals, @language, @voice, @at)
                  ON CONFLICT (user_id) DO NOTHING
                  """,
            new { userId, name = profile.Name, goals = profile.Goals.ToArray(), language = profile.Language, voice = profile.Voice, at = time.GetUtcNow() },
            tx, cancellationToken: ct));

    public async Task<VideoProfile> ProfileAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<(string? Name, string[] Goals, string Language, string? Voice)?>(new CommandDefinition(
            "SELECT name, goals, language, voice FROM video_profiles WHERE user_id = @userId", new { userId }, cancellationToken: ct));
        return row is { } r ? new VideoProfile(r.Name, r.Goals, r.Language, r.Voice) : new VideoProfile(null, [], "en", null);
    }

    /// <summary>
    /// The three onboarding videos of a user in a style, created and queued once: the same style again answers the
    /// existing rows and renders nothing. Runs in the caller's transaction (the signup event's, or a request's).
    /// </summary>
    public async Task<(IReadOnlyList<VideoRow> Videos, int Created)> EnsureOnboardingAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string userId, string style, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var created = 0;
        var queued = new List<NewWork>();
        foreach (var kind in VideoKinds.All)
        {
            var id = $"vid_{Guid.CreateVersion7():N}";
            var inserted = await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO videos (id, user_id, kind, style, status, object_prefix, created_at, updated_at)
                VALUES (@id, @userId, @kind, @style, 'queued', @prefix, @now, @now)
                ON CONFLICT (user_id, kind, style) DO NOTHING
                """,
                new { id, userId, kind, style, prefix = $"{UserPrefix(userId)}videos/{id}/", now }, tx, cancellationToken: ct));
            if (inserted == 1)
            {
                created++;
                queued.Add(new NewWork(RenderKind, $"video:{id}:render", id, PartitionKey: $"video:{id}"));
            }
        }

        await work.EnqueueAsync(connection, tx, queued, ct);
        var videos = (await connection.QueryAsync<VideoRow>(new CommandDefinition(
            $"SELECT {Columns} FROM videos WHERE user_id = @userId AND style = @style ORDER BY array_position(@kinds, kind)",
            new { userId, style, kinds = VideoKinds.All.ToArray() }, tx, cancellationToken: ct))).ToList();
        return (videos, created);
    }

    public async Task<VideoRow?> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await GetAsync(connection, null, id, ct);
    }

    public static Task<VideoRow?> GetAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string id, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<VideoRow>(new CommandDefinition($"SELECT {Columns} FROM videos WHERE id = @id", new { id }, tx, cancellationToken: ct));

    public async Task<VideoRow?> GetByProviderJobAsync(string jobId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<VideoRow>(new CommandDefinition(
            $"SELECT {Columns} FROM videos WHERE provider_job_id = @jobId", new { jobId }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<VideoRow>> ListAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return (await connection.QueryAsync<VideoRow>(new CommandDefinition(
            $"SELECT {Columns} FROM videos WHERE user_id = @userId ORDER BY created_at, id", new { userId }, cancellationToken: ct))).ToList();
    }

    /// <summary>Progress while rendering (its own short statement; a lost update only delays a progress bar).</summary>
    public async Task SetProgressAsync(string id, string status, int progress, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE videos SET status = @status, progress = GREATEST(progress, @progress), updated_at = @now WHERE id = @id AND status NOT IN ('ready', 'failed')",
            new { id, status, progress, now = time.GetUtcNow() }, cancellationToken: ct));
    }

    /// <summary>Marks a video served from a new revision of its files; false when it was deleted meanwhile.</summary>
    public async Task<bool> MarkReadyAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string id, int revision, string provider, string narration, bool degraded, bool betterVersion, double duration, long bytes, double cpuSeconds, CancellationToken ct) =>
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE videos SET status = 'ready', progress = 100, revision = @revision, provider = @provider, narration = @narration, degraded = @degraded,
                              better_version = @betterVersion, duration_seconds = @duration, bytes = @bytes,
                              cpu_seconds = COALESCE(cpu_seconds, 0) + @cpuSeconds, error = NULL, updated_at = @now, ready_at = COALESCE(ready_at, @now)
            WHERE id = @id
            """,
            new { id, revision, provider, narration, degraded, betterVersion, duration, bytes, cpuSeconds, now = time.GetUtcNow() }, tx, cancellationToken: ct)) == 1;

    public async Task<bool> MarkFailedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string id, string error, CancellationToken ct) =>
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE videos SET status = 'failed', error = @error, updated_at = @now WHERE id = @id AND status <> 'ready'",
            new { id, error, now = time.GetUtcNow() }, tx, cancellationToken: ct)) == 1;

    public async Task SetProviderJobAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string id, string provider, string jobId, CancellationToken ct) =>
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE videos SET provider_job_id = @jobId, provider_status = 'pending', status = 'rendering', progress = GREATEST(progress, 10), updated_at = @now WHERE id = @id",
            new { id, jobId, now = time.GetUtcNow() }, tx, cancellationToken: ct));

    /// <summary>
    /// Records, before the call, that the video is being sent to the provider (a short statement of its own, no transaction
    /// open across the call): an attempt that finds it without a job id does not send it again.
    /// </summary>
    public async Task MarkProviderSubmittedAsync(string id, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE videos SET provider_submitted_at = @now WHERE id = @id", new { id, now = time.GetUtcNow() }, cancellationToken: ct));
    }

    /// <summary>The provider answered that it made nothing (an error status): the video may be sent again.</summary>
    public async Task ClearProviderSubmittedAsync(string id)
    {
        await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE videos SET provider_submitted_at = NULL WHERE id = @id AND provider_job_id IS NULL", new { id }));
    }

    /// <summary>
    /// A provider job whose id was never recorded (its submission was, see <see cref="MarkProviderSubmittedAsync"/>), named by
    /// the provider's webhook with our video id: recorded now, once. Null when the video has a job of its own or was not sent.
    /// </summary>
    public async Task<VideoRow?> AdoptProviderJobAsync(string id, string jobId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<VideoRow>(new CommandDefinition(
            $"UPDATE videos SET provider_status = 'pending', provider_job_id = @jobId, updated_at = @now WHERE id = @id AND provider_job_id IS NULL AND provider_submitted_at IS NOT NULL RETURNING {Columns}",
            new { id, jobId, now = time.GetUtcNow() }, cancellationToken: ct));
    }

    public async Task SetProviderStatusAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string id, string status, CancellationToken ct) =>
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE videos SET provider_status = @status, updated_at = @now WHERE id = @id",
            new { id, status, now = time.GetUtcNow() }, tx, cancellationToken: ct));

    /// <summary>Removes a user's videos and profile; their objects are deleted by the caller once this committed.</summary>
    public async Task<int> DeleteUserAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var deleted = await connection.ExecuteAsync(new CommandDefinition("DELETE FROM videos WHERE user_id = @userId", new { userId }, tx, cancellationToken: ct));
        await connection.ExecuteAsync(new CommandDefinition("DELETE FROM video_profiles WHERE user_id = @userId", new { userId }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return deleted;
    }

    public NpgsqlDataSource DataSource => dataSource;
}
