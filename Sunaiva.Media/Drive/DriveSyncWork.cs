using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Drive;

/// <summary>
/// Reads one user's Drive changes feed (kind <c>drive.sync</c>, partitioned by user like the imports): pages of
/// <c>changes.list</c> from the stored page token to <c>newStartPageToken</c>. Only files the user imported are followed
/// (under drive.file the feed shows nothing else): an edit (new version) queues a re-import, a deletion or trashing removes the
/// file from the vault. The new page token, the removals and the queued imports commit together. A scheduled run queues the next
/// one (<see cref="DriveOptions.SyncInterval"/>) and keeps the push channel open when <see cref="DriveOptions.WebhookAddress"/> is set.
/// </summary>
public sealed partial class DriveSyncWork(
    DriveGateway gateway,
    DriveConnectionStore connections,
    DriveImportStore imports,
    IDriveImportTarget target,
    WorkQueue queue,
    IDataProtectionProvider protection,
    IOptions<DriveOptions> options,
    TimeProvider time,
    ILogger<DriveSyncWork> logger) : IWorkHandler
{
    public const string WorkKind = "drive.sync";
    private const int MaxPagesPerRun = 50;

    public string Kind => WorkKind;

    /// <summary>The run at <paramref name="runAt"/> of the schedule <paramref name="schedule"/> (one key per schedule and moment).</summary>
    public static NewWork Scheduled(string userId, string schedule, DateTimeOffset runAt) => new(
        WorkKind, $"{WorkKind}:{DriveKeys.UserKey(userId)}:{schedule}:at:{runAt.ToUnixTimeSeconds()}",
        JsonSerializer.Serialize(new Payload(userId, Scheduled: true, schedule)), DriveKeys.Partition(userId), runAt);

    /// <summary>A run caused by a push notification or a continuation, outside the schedule.</summary>
    public static NewWork Now(string userId, string cause) => new(
        WorkKind, $"{WorkKind}:{DriveKeys.UserKey(userId)}:{cause}",
        JsonSerializer.Serialize(new Payload(userId, Scheduled: false, null)), DriveKeys.Partition(userId));

    /// <summary>The channel token Google echoes in <c>X-Goog-Channel-Token</c>: the channel id, protected (so only we can mint one).</summary>
    internal static IDataProtector ChannelTokens(IDataProtectionProvider protection) => protection.CreateProtector("Sunaiva.Media.Drive.Channel.v1");

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.Deserialize<Payload>(context.Item.Payload) ?? throw new PermanentWorkFailureException("unreadable drive.sync payload");
        var userId = payload.UserId;
        var connection = await connections.GetAsync(userId, cancellationToken);
        if (connection is null || connection.Status != DriveConnection.Connected)
        {
            // Disconnected or waiting for consent: the schedule stops here; connecting again starts it.
            await context.IgnoreAsync(connection is null ? "not connected" : "re-consent required", cancellationToken);
            return;
        }

        if (payload.Scheduled && payload.Schedule != connection.SyncSchedule)
        {
            // The user consented again since: that consent started a schedule of its own; one per user is enough.
            await context.IgnoreAsync("superseded schedule", cancellationToken);
            return;
        }

        try
        {
            await SyncAsync(context, payload, connection, cancellationToken);
        }
        catch (Exception ex) when (ex is DriveNotConnectedException or DriveReconsentRequiredException)
        {
            await context.IgnoreAsync("re-consent required", cancellationToken);
        }
    }

    private async Task SyncAsync(WorkContext context, Payload payload, DriveConnection connection, CancellationToken ct)
    {
        var userId = payload.UserId;
        var pageToken = connection.PageToken
            ?? await gateway.CallAsync(userId, "changes.startPageToken", (p, token, t) => p.GetStartPageTokenAsync(token, t), ct);
        var startToken = pageToken;
        var reimports = new List<NewWork>();
        var removed = new List<string>();
        string? newStart = null;
        for (var page = 0; page < MaxPagesPerRun && connection.PageToken is not null && newStart is null; page++)
        {
            var current = pageToken;
            var changes = await gateway.CallAsync(userId, "changes.list", (p, token, t) => p.ListChangesAsync(token, current, t), ct);
            var list = changes.Changes ?? [];
            var ids = list.Where(c => c.FileId is not null).Select(c => c.FileId!).Distinct(StringComparer.Ordinal).ToList();
            var followed = ids.Count == 0 ? [] : await imports.FollowedAsync(userId, ids, ct);
            foreach (var change in list)
            {
                if (change.FileId is not { } fileId || !followed.TryGetValue(fileId, out var known) || removed.Contains(fileId))
                {
                    continue;
                }

                if (change.Removed || change.File?.Trashed == true)
                {
                    await target.DeleteImportedAsync(userId, fileId, ct);
                    removed.Add(fileId);
                }
                else if (change.File?.Version is { } version && version != known.DriveVersion)
                {
                    reimports.Add(DriveImportWork.For(userId, fileId, $"v{version}"));
                }
            }

            if (changes.NewStartPageToken is { } next)
            {
                newStart = next;
            }
            else
            {
                pageToken = changes.NextPageToken ?? throw new PermanentWorkFailureException("changes.list answered neither nextPageToken nor newStartPageToken");
            }
        }

        var savedToken = newStart ?? pageToken;
        var channel = payload.Scheduled ? await RenewChannelAsync(connection, savedToken, ct) : null;
        var now = time.GetUtcNow();
        await context.CommitAsync(async (c, tx, t) =>
        {
            await c.ExecuteAsync(new CommandDefinition(
                """
                UPDATE drive_connections SET page_token = @savedToken, last_sync_at = @now,
                    channel_id = COALESCE(@channelId, channel_id), channel_resource_id = COALESCE(@resourceId, channel_resource_id),
                    channel_expires_at = COALESCE(@channelExpires, channel_expires_at)
                WHERE user_id = @userId
                """,
                new { userId, savedToken, now, channelId = channel?.Id, resourceId = channel?.ResourceId, channelExpires = channel?.ExpiresAt },
                tx, cancellationToken: t));
            foreach (var fileId in removed)
            {
                await imports.MarkRemovedAsync(c, tx, userId, fileId, "deleted in Drive", t);
                await imports.AuditAsync(c, tx, userId, "removed", fileId, null, t);
            }

            var follow = new List<NewWork>(reimports);
            if (newStart is null && connection.PageToken is not null)
            {
                // More pages than one run reads: carry on at once from where this run stopped.
                follow.Add(Now(userId, $"continue:{savedToken}"));
            }

            if (payload.Scheduled)
            {
                follow.Add(Scheduled(userId, payload.Schedule!, now + options.Value.SyncInterval));
            }

            await queue.EnqueueAsync(c, tx, follow, t);
        }, ct);
        LogSynced(logger, startToken == savedToken ? 0 : 1, reimports.Count, removed.Count);
    }

    private async Task<(string Id, string? ResourceId, DateTimeOffset ExpiresAt)?> RenewChannelAsync(DriveConnection connection, string pageToken, CancellationToken ct)
    {
        var o = options.Value;
        if (o.WebhookAddress is null || (connection.ChannelExpiresAt is { } expires && expires - time.GetUtcNow() > o.SyncInterval * 2))
        {
            return null;
        }

        var id = Guid.NewGuid().ToString("N");
        var token = ChannelTokens(protection).Protect(id);
        var expiresAt = time.GetUtcNow() + o.ChannelLifetime;
        var channel = await gateway.CallAsync(connection.UserId, "changes.watch",
            (p, access, t) => p.WatchChangesAsync(access, pageToken, id, token, o.WebhookAddress, expiresAt, t), ct);
        var granted = long.TryParse(channel.Expiration, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : expiresAt;
        return (channel.Id, channel.ResourceId, granted);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Drive changes read (token moved: {Moved}): {Reimports} re-import(s), {Removed} removal(s)")]
    private static partial void LogSynced(ILogger logger, int moved, int reimports, int removed);

    internal sealed record Payload(string UserId, bool Scheduled, string? Schedule);
}
