using Microsoft.Extensions.Options;
using SkiaSharp;
using Sunaiva.Integration;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Videos;

/// <summary>
/// What happens when HeyGen's job ends, by webhook or by polling: re-read its status from HeyGen, then either store
/// its file as the video's next revision (replacing a local render already served: "better version available"), or
/// on failure have the local render served now.
/// </summary>
public sealed partial class HeyGenOutcome(
    VideoStore store,
    VideoJobs jobs,
    HeyGenClient heygen,
    VideoCompletion completion,
    WorkQueue queue,
    IIntegrationMeter meter,
    ILogger<HeyGenOutcome> logger)
{
    /// <summary>True when the job reached an end (done or failed); false while HeyGen still works on it.</summary>
    public async Task<bool> SettleAsync(WorkContext work, VideoRow video, CancellationToken ct)
    {
        if (video.ProviderStatus != "pending" || video.ProviderJobId is null)
        {
            await work.IgnoreAsync("provider job already settled", ct);
            return true;
        }

        var status = await heygen.StatusAsync(video.ProviderJobId, ct);
        if (status.Completed && status.VideoUrl is { } url)
        {
            await StoreAsync(work, video, status, url, ct);
            return true;
        }

        if (status.Failed)
        {
            LogProviderFailed(logger, video.Id);
            await work.CommitAsync(async (connection, tx, token) =>
            {
                await store.SetProviderStatusAsync(connection, tx, video.Id, "failed", token);
                if (!video.IsFinal)
                {
                    await queue.EnqueueAsync(connection, tx, new NewWork(VideoLocalWork.WorkKind, $"video:{video.Id}:local:provider-failed", video.Id, $"video:{video.Id}"), token);
                }
            }, ct);
            return true;
        }

        return false;
    }

    private async Task StoreAsync(WorkContext work, VideoRow video, HeyGenStatus status, string url, CancellationToken ct)
    {
        var folder = Directory.CreateTempSubdirectory(ScratchSweeper.HeyGenPrefix).FullName;
        var job = await jobs.JobAsync(video, ct);
        var videoPath = Path.Combine(folder, "video.mp4");
        await heygen.DownloadAsync(url, videoPath, ct);
        var posterPath = Path.Combine(folder, "poster.jpg");
        if (status.ThumbnailUrl is { } thumbnail)
        {
            await heygen.DownloadAsync(thumbnail, posterPath, ct);
        }

        // Captions from our script at reading speed (HeyGen's own captions are burned into its video).
        var track = NarrationBuilder.CaptionsOnly(job.Script, job.Style);
        if (status.ThumbnailUrl is null)
        {
            using var painter = new FramePainter(job.Style, job.Script, track.Cues, track.Duration, burnCaptions: false);
            await File.WriteAllBytesAsync(posterPath, painter.Still(1.6, SKEncodedImageFormat.Jpeg, 85), ct);
        }

        var captionsPath = Path.Combine(folder, "captions.vtt");
        await File.WriteAllTextAsync(captionsPath, Captions.ToWebVtt(track.Cues), ct);
        var duration = status.Duration ?? track.Duration;
        meter.Record(new MeteredCall("video-render", "heygen", "video", "video-seconds", (decimal)duration, TimeSpan.Zero, CallOutcome.Ok, video.UserId));
        var rendered = new RenderedVideo(folder, videoPath, posterPath, captionsPath, duration, new FileInfo(videoPath).Length, 0, NarrationModes.Speech);
        await completion.CompleteAsync(work, video, rendered, "heygen", degraded: false, ct, providerStatus: "done");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "HeyGen could not make video {VideoId}: the local render is served")]
    private static partial void LogProviderFailed(ILogger logger, string videoId);
}

/// <summary>HeyGen's webhook deliveries, processed as durable work: they only say "look again"; the status is re-read from HeyGen.</summary>
public sealed class HeyGenWebhookProcessor(VideoStore store, HeyGenOutcome outcome) : IWebhookProcessor
{
    public string Provider => "heygen";

    public async Task ProcessAsync(WebhookEnvelope envelope, WorkContext work, CancellationToken cancellationToken)
    {
        if (envelope.Type is not ("avatar_video.success" or "avatar_video.fail") || envelope.ObjectId is null)
        {
            await work.IgnoreAsync($"event {envelope.Type} is not handled", cancellationToken);
            return;
        }

        var video = await store.GetByProviderJobAsync(envelope.ObjectId, cancellationToken)
            ?? (CallbackIdOf(envelope.Payload) is { } callback ? await store.AdoptProviderJobAsync(callback, envelope.ObjectId, cancellationToken) : null);
        if (video is null)
        {
            await work.IgnoreAsync("no video for this HeyGen job", cancellationToken);
            return;
        }

        if (!await outcome.SettleAsync(work, video, cancellationToken))
        {
            // The event arrived before HeyGen's status caught up: look again shortly.
            throw new RetryLaterException(TimeSpan.FromSeconds(5), "heygen status not final yet");
        }
    }

    /// <summary>Our video id, which HeyGen's event repeats as <c>callback_id</c> (the delivery was verified before it was stored).</summary>
    private static string? CallbackIdOf(string payload) =>
        System.Text.Json.JsonSerializer.Deserialize<HeyGenEvent>(payload)?.EventData?.CallbackId is { Length: > 0 } id ? id : null;
}

/// <summary><c>video.heygen.poll</c>: the backup to the webhook; polls until the job ends or is given up (the local video stays).</summary>
public sealed class HeyGenPollWork(VideoStore store, HeyGenOutcome outcome, IOptions<VideoOptions> options, TimeProvider time) : IWorkHandler
{
    public const string WorkKind = "video.heygen.poll";

    public string Kind => WorkKind;

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var video = await store.GetAsync(context.Item.Payload, cancellationToken);
        if (video is null)
        {
            await context.IgnoreAsync("deleted", cancellationToken);
            return;
        }

        if (await outcome.SettleAsync(context, video, cancellationToken))
        {
            return;
        }

        if (time.GetUtcNow() - new DateTimeOffset(video.CreatedAt, TimeSpan.Zero) > options.Value.ProviderGiveUpAfter)
        {
            await context.CommitAsync((connection, tx, token) => store.SetProviderStatusAsync(connection, tx, video.Id, "abandoned", token), cancellationToken);
            return;
        }

        throw new RetryLaterException(options.Value.ProviderPollInterval, "heygen still rendering");
    }
}
