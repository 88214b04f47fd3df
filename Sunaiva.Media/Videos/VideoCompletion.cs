using Microsoft.Extensions.Options;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Videos;

/// <summary>
/// Serves a finished render: uploads its files as a new revision (nothing is open meanwhile), then in one short
/// transaction that also finishes the work item marks the video ready and writes <c>video.ready</c> to the outbox.
/// A later, better file (HeyGen's after the local one) is simply the next revision: the event says <c>Replaced</c>.
/// </summary>
public sealed partial class VideoCompletion(VideoStore store, VideoObjects objects, EventOutbox outbox, VideoProgress progress, IOptions<VideoOptions> options, ILogger<VideoCompletion> logger)
{
    public async Task CompleteAsync(WorkContext work, VideoRow video, RenderedVideo rendered, string provider, bool degraded, CancellationToken ct, string? providerStatus = null)
    {
        var revision = video.Revision + 1;
        // A render in a hurry (queue wait past Videos:HurryAfter) kept the promise by degrading: the video says so.
        degraded |= rendered.Hurried;
        var replaced = video.Status == VideoStatus.Ready;
        try
        {
            await objects.UploadAsync(video, revision, rendered, ct);
        }
        finally
        {
            rendered.Delete();
        }

        var stillThere = false;
        await work.CommitAsync(async (connection, tx, token) =>
        {
            stillThere = await store.MarkReadyAsync(connection, tx, video.Id, revision, provider, rendered.Narration, degraded, replaced, rendered.Duration, rendered.Bytes, rendered.CpuSeconds, token);
            if (stillThere && providerStatus is not null)
            {
                await store.SetProviderStatusAsync(connection, tx, video.Id, providerStatus, token);
            }

            if (stillThere)
            {
                var data = new VideoReady(video.UserId, video.Id, video.Kind, $"/videos/{video.Id}", options.Value.WatchUrl.Replace("{id}", video.Id, StringComparison.Ordinal),
                    video.Style, provider, rendered.Narration, degraded, replaced);
                await outbox.AddAsync(connection, tx, EventTypes.VideoReady, data, $"video.ready:{video.Id}:r{revision}", token);
            }
        }, ct);

        // The user deleted their videos while this one rendered: its files go too. An older revision is no longer served.
        if (!stillThere)
        {
            await objects.DeleteRevisionAsync(video, revision, ct);
        }
        else if (video.Revision > 0)
        {
            await objects.DeleteRevisionAsync(video, video.Revision, ct);
        }

        LogReady(logger, video.Id, provider, revision, replaced);
        progress.Notify(video.UserId);
    }

    public async Task FailAsync(WorkContext work, VideoRow video, string reason, CancellationToken ct)
    {
        await work.CommitAsync(async (connection, tx, token) =>
        {
            if (await store.MarkFailedAsync(connection, tx, video.Id, reason, token))
            {
                await outbox.AddAsync(connection, tx, EventTypes.VideoFailed, new VideoFailed(video.UserId, video.Id, video.Kind, video.Style, reason), $"video.failed:{video.Id}", token);
            }
        }, ct);
        LogFailed(logger, video.Id, reason);
        progress.Notify(video.UserId);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Video {VideoId} ready from {Provider} (revision {Revision}, replaced {Replaced})")]
    private static partial void LogReady(ILogger logger, string videoId, string provider, int revision, bool replaced);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Video {VideoId} failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string videoId, string reason);
}
