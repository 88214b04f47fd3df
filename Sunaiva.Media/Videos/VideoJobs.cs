using Microsoft.Extensions.Options;

namespace Sunaiva.Media.Videos;

/// <summary>Builds a video's render job from its row and the user's profile, and records progress (database and live streams).</summary>
public sealed class VideoJobs(VideoStore store, VideoProgress progress, IOptions<VideoOptions> options)
{
    public async Task<RenderJob> JobAsync(VideoRow video, CancellationToken ct)
    {
        var profile = await store.ProfileAsync(video.UserId, ct);
        var style = VideoStyle.Find(video.Style) ?? VideoStyle.Find(options.Value.DefaultStyle)!;
        var script = Script(video.Kind, profile);
        await ProgressAsync(video, VideoStatus.Rendering, 0.02, ct);
        return new RenderJob(video, script, style, profile, p => ProgressAsync(video, VideoStatus.Rendering, p, ct));
    }

    public VideoScript Script(string kind, VideoProfile profile) =>
        ScriptTemplates.Build(kind, profile, EspeakNarrationTts.DisplayName, options.Value.DefaultVoice);

    public async Task ProgressAsync(VideoRow video, string status, double fraction, CancellationToken ct)
    {
        await store.SetProgressAsync(video.Id, status, (int)Math.Clamp(fraction * 100, 0, 99), ct);
        progress.Notify(video.UserId);
    }
}
