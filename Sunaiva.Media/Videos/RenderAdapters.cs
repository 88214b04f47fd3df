using Sunaiva.Integration;

namespace Sunaiva.Media.Videos;

/// <summary>What a render needs: the video, its script and style, the profile's voice, and where progress goes.</summary>
public sealed record RenderJob(VideoRow Video, VideoScript Script, VideoStyle Style, VideoProfile Profile, Func<double, Task> Progress);

/// <summary>The start of a render: a finished local file, or a provider job that completes later (webhook or polling).</summary>
public sealed record RenderStart(RenderedVideo? Rendered, string? ProviderJobId);

/// <summary>An adapter of the <c>video-render</c> chain: HeyGen (asynchronous) first when configured, the local renderer last.</summary>
public interface IVideoRenderAdapter : IProviderAdapter
{
    Task<RenderStart> StartAsync(RenderJob job, ProviderCallContext call, CancellationToken cancellationToken);
}

/// <summary>Narration through the <c>tts</c> chain, frames and encode by <see cref="LocalRenderer"/>. Metered in CPU seconds.</summary>
public sealed class LocalVideoAdapter(NarrationBuilder narration, LocalRenderer renderer, RenderSlots slots, Microsoft.Extensions.Options.IOptions<VideoOptions> options, TimeProvider time) : IVideoRenderAdapter
{
    public string Provider => "ffmpeg";

    public async Task<RenderStart> StartAsync(RenderJob job, ProviderCallContext call, CancellationToken cancellationToken)
    {
        var rendered = await RenderAsync(job, cancellationToken);
        call.Unit = "cpu-seconds";
        call.Units = (decimal)rendered.CpuSeconds;
        return new RenderStart(rendered, null);
    }

    public async Task<RenderedVideo> RenderAsync(RenderJob job, CancellationToken cancellationToken)
    {
        // One render per core at a time: the others wait here (their items stay leased), and the wait decides the hurry below.
        using var slot = await slots.EnterAsync(cancellationToken);
        await job.Progress(0.05);
        var track = await narration.BuildAsync(job.Script, job.Style, job.Script.Voice ?? job.Profile.Voice, job.Video.UserId, cancellationToken);
        await job.Progress(0.2);
        // Past the hurry mark (queue wait under load) the render trades smoothness for speed to keep the promise.
        var waited = time.GetUtcNow() - new DateTimeOffset(job.Video.CreatedAt, TimeSpan.Zero);
        return await renderer.RenderAsync(job.Script, job.Style, track, p => job.Progress(0.2 + 0.7 * p), cancellationToken, hurry: waited > options.Value.HurryAfter);
    }
}

/// <summary>The local renders allowed at once in this replica (<see cref="VideoOptions.MaxConcurrentRenders"/>).</summary>
public sealed class RenderSlots(Microsoft.Extensions.Options.IOptions<VideoOptions> options) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(options.Value.MaxConcurrentRenders, options.Value.MaxConcurrentRenders);

    public async Task<IDisposable> EnterAsync(CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        return new Slot(_slots);
    }

    public void Dispose() => _slots.Dispose();

    private sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                slots.Release();
            }
        }
    }
}
