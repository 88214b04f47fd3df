using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Videos;

/// <summary>
/// <c>video.render</c>: one video through the <c>video-render</c> chain. The local adapter renders and the video is served
/// at once; HeyGen answers with a job id, and the local render is then scheduled at the provider deadline
/// (<c>video.local</c>) with polling as a backup to the webhook (<c>video.heygen.poll</c>). Runs with nothing open;
/// a crash before the final commit renders again (the lease passes to another replica), never twice served.
/// </summary>
public sealed class VideoRenderWork(
    VideoStore store,
    ProviderChain<IVideoRenderAdapter> chain,
    VideoJobs jobs,
    VideoCompletion completion,
    WorkQueue queue,
    IOptions<VideoOptions> options,
    TimeProvider time) : IWorkHandler
{
    public string Kind => VideoStore.RenderKind;

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var video = await store.GetAsync(context.Item.Payload, cancellationToken);
        if (video is null || video.IsFinal || video.ProviderJobId is not null)
        {
            await context.IgnoreAsync(video is null ? "deleted" : "already started or finished", cancellationToken);
            return;
        }

        if (video.ProviderSubmittedAt is not null)
        {
            // An earlier attempt sent the video to HeyGen and its job id was never recorded (the commit after HeyGen's answer
            // failed, or no answer came): HeyGen may be making it, so it is not sent again. Its webhook adopts the job by our
            // video id (HeyGenWebhookProcessor); the local render serves at the deadline as for any provider job.
            await context.CommitAsync(async (connection, tx, token) =>
            {
                await store.SetProviderStatusAsync(connection, tx, video.Id, "unknown", token);
                await queue.EnqueueAsync(connection, tx, [LocalAtDeadline(video)], token);
            }, cancellationToken);
            return;
        }

        using var _ = MeteringContext.ForUser(video.UserId);
        var job = await jobs.JobAsync(video, cancellationToken);
        try
        {
            var result = await chain.ExecuteAsync(
                new ProviderOperation("render", Unit: "video-seconds", Streaming: true),
                async (adapter, call, token) => await adapter.StartAsync(job, call, token),
                cancellationToken);
            if (result.Value.Rendered is { } rendered)
            {
                await completion.CompleteAsync(context, video, rendered, result.Provider, result.Degraded, cancellationToken);
                return;
            }

            var jobId = result.Value.ProviderJobId!;
            await context.CommitAsync(async (connection, tx, token) =>
            {
                await store.SetProviderJobAsync(connection, tx, video.Id, result.Provider, jobId, token);
                await queue.EnqueueAsync(connection, tx,
                [
                    LocalAtDeadline(video),
                    new NewWork(HeyGenPollWork.WorkKind, $"video:{video.Id}:heygen-poll", video.Id, $"video:{video.Id}", time.GetUtcNow() + options.Value.ProviderPollInterval),
                ], token);
            }, cancellationToken);
            await jobs.ProgressAsync(video, VideoStatus.Rendering, 0.1, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && ex is not WorkLeaseLostException && context.Item.Attempts >= context.Item.MaxAttempts)
        {
            await completion.FailAsync(context, video, ex is ProviderChainException ? "no renderer could make the video" : "the render failed", cancellationToken);
        }
    }

    /// <summary>The local render at the provider deadline (<c>created + Videos:ProviderDeadline</c>), or now when that is past.</summary>
    private NewWork LocalAtDeadline(VideoRow video)
    {
        var now = time.GetUtcNow();
        var deadline = new DateTimeOffset(video.CreatedAt, TimeSpan.Zero) + options.Value.ProviderDeadline;
        return new NewWork(VideoLocalWork.WorkKind, $"video:{video.Id}:local:deadline", video.Id, $"video:{video.Id}", deadline > now ? deadline : now);
    }
}

/// <summary>
/// <c>video.local</c>: the local render, served when a provider failed or missed its deadline. Nothing happens when the
/// video is already ready (the provider delivered in time). Items of one video share a partition: never two at once.
/// </summary>
public sealed class VideoLocalWork(VideoStore store, VideoJobs jobs, LocalVideoAdapter local, VideoCompletion completion, IIntegrationMeter meter, TimeProvider time) : IWorkHandler
{
    public const string WorkKind = "video.local";

    public string Kind => WorkKind;

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var video = await store.GetAsync(context.Item.Payload, cancellationToken);
        if (video is null || video.IsFinal)
        {
            await context.IgnoreAsync(video is null ? "deleted" : "already served", cancellationToken);
            return;
        }

        using var _ = MeteringContext.ForUser(video.UserId);
        var job = await jobs.JobAsync(video, cancellationToken);
        var started = time.GetTimestamp();
        try
        {
            var rendered = await local.RenderAsync(job, cancellationToken);
            meter.Record(new MeteredCall("video-render", local.Provider, "render", "cpu-seconds", (decimal)rendered.CpuSeconds, time.GetElapsedTime(started), CallOutcome.Fallback, video.UserId));
            await completion.CompleteAsync(context, video, rendered, local.Provider, degraded: true, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && ex is not WorkLeaseLostException && context.Item.Attempts >= context.Item.MaxAttempts)
        {
            await completion.FailAsync(context, video, "the local render failed", cancellationToken);
        }
    }
}
