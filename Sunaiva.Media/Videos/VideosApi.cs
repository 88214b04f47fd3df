using System.Collections.Concurrent;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using SkiaSharp;
using Sunaiva.Contracts;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Media.Videos;

/// <summary>Asks for the three onboarding videos in a style; profile fields given here replace what signup told us.</summary>
public sealed record OnboardingRequest(string? Style, string? Name, IReadOnlyList<string>? Goals, string? Language, string? Voice);

/// <summary>The answer to a request: the three videos' ids at once, and where to follow them.</summary>
public sealed record OnboardingAccepted(IReadOnlyList<VideoView> Videos, int Created, string EventsUrl);

/// <summary>A video as its owner sees it; links are presigned, short-lived, and only present when it is ready.</summary>
public sealed record VideoView(
    string Id, string Kind, string Style, string Status, int Progress, string? Provider, string? Narration, bool CaptionsBurnedIn,
    bool Degraded, bool BetterVersionAvailable, double? DurationSeconds, long? Bytes, string? VideoUrl, string? PosterUrl, string? CaptionsUrl,
    DateTimeOffset? LinksExpireAt, DateTime CreatedAt, DateTime? ReadyAt);

/// <summary>A style the user can pick, with a preview frame.</summary>
public sealed record StyleView(string Id, string Name, string Description, string PreviewUrl);

public static class VideosApi
{
    public const int MaxNameInput = 200;
    public const int MaxGoalInput = 200;
    public const int MaxGoalsInput = 10;
    private static readonly ConcurrentDictionary<string, byte[]> Previews = new(StringComparer.Ordinal);

    public static RouteGroupBuilder MapVideosApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/videos").RequireAuthorization().WithTags("Videos");
        group.AddEndpointFilter(async (context, next) =>
        {
            using var _ = Sunaiva.Integration.MeteringContext.ForUser(context.HttpContext.User.FindFirst("sub")?.Value);
            return await next(context);
        });
        group.MapPost("/onboarding", RequestAsync)
            .ProducesProblems(StatusCodes.Status422UnprocessableEntity)
            .WithSummary("Queue the caller's three onboarding videos in a style (202 with their ids; the same style again renders nothing new)");
        group.MapGet("/onboarding/events", Events)
            .Produces<VideoView>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("Server-sent events: progress of the caller's videos until all are ready or failed");
        group.MapGet("/styles", Styles).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("The video styles, each with a preview image");
        group.MapGet("/styles/{id}/preview.png", PreviewAsync).AllowAnonymous()
            .Produces<Stream>(StatusCodes.Status200OK, "image/png")
            .ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("A style's preview frame (PNG, 1280x720)");
        group.MapGet("/", ListAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("The caller's videos, oldest first");
        group.MapGet("/{id}", GetAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("One of the caller's videos: status, progress and, when ready, short-lived links to the MP4, poster and captions");
        group.MapDelete("/", DeleteAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("Delete all of the caller's videos and their files");
        return group;
    }

    private static async Task<Results<Accepted<OnboardingAccepted>, ProblemHttpResult>> RequestAsync(
        OnboardingRequest? body, HttpContext http, VideoStore store, VideoObjects objects, IOptions<VideoOptions> options, CancellationToken ct)
    {
        body ??= new OnboardingRequest(null, null, null, null, null);
        var style = body.Style ?? options.Value.DefaultStyle;
        if (VideoStyle.Find(style) is null)
        {
            return Invalid("Unknown style", $"Pick one of: {string.Join(", ", VideoStyle.All.Select(s => s.Id))}.");
        }

        if (body.Name is { } name && (name.Length > MaxNameInput || InputRules.HasControlCharacters(name)))
        {
            return Invalid("Invalid name", $"The name must have at most {MaxNameInput} characters and no control characters.");
        }

        if (body.Goals is { } goals && (goals.Count > MaxGoalsInput || goals.Any(g => g is null || g.Length > MaxGoalInput || InputRules.HasControlCharacters(g))))
        {
            return Invalid("Invalid goals", $"At most {MaxGoalsInput} goals of at most {MaxGoalInput} characters each, without control characters.");
        }

        if (body.Language is not null && !InputRules.IsLanguageTag(body.Language))
        {
            return Invalid("Invalid language", "Send a BCP 47 language tag such as en or pt-BR.");
        }

        if (body.Voice is not null && !InputRules.IsVoiceId(body.Voice))
        {
            return Invalid("Invalid voice", "Send a voice id from the voice catalog, such as en-US-female-1.");
        }

        var userId = http.User.UserId();
        await using var connection = await store.DataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        if (body.Name is not null || body.Goals is not null || body.Language is not null || body.Voice is not null)
        {
            var current = await store.ProfileAsync(userId, ct);
            var profile = VideoProfile.From(body.Name ?? current.Name, body.Goals ?? current.Goals, body.Language ?? current.Language, body.Voice ?? current.Voice);
            await store.UpsertProfileAsync(connection, tx, userId, profile, overwrite: true, ct);
        }

        var (videos, created) = await store.EnsureOnboardingAsync(connection, tx, userId, style, ct);
        await tx.CommitAsync(ct);
        return TypedResults.Accepted("/videos", new OnboardingAccepted(videos.Select(v => View(v, objects, options.Value, http)).ToList(), created, "/videos/onboarding/events"));
    }

    private static async Task<Ok<List<VideoView>>> ListAsync(HttpContext http, VideoStore store, VideoObjects objects, IOptions<VideoOptions> options, CancellationToken ct) =>
        TypedResults.Ok((await store.ListAsync(http.User.UserId(), ct)).Select(v => View(v, objects, options.Value, http)).ToList());

    private static async Task<Results<Ok<VideoView>, ProblemHttpResult>> GetAsync(string id, HttpContext http, VideoStore store, VideoObjects objects, IOptions<VideoOptions> options, CancellationToken ct)
    {
        var video = id.Length <= 64 ? await store.GetAsync(id, ct) : null;
        return video is null || video.UserId != http.User.UserId()
            ? TypedResults.Problem(statusCode: 404, title: "Video not found")
            : TypedResults.Ok(View(video, objects, options.Value, http));
    }

    private static async Task<NoContent> DeleteAsync(HttpContext http, VideoStore store, VideoObjects objects, CancellationToken ct)
    {
        var userId = http.User.UserId();
        await store.DeleteUserAsync(userId, ct);
        // Rows first (committed), then objects: a render finishing meanwhile finds no row and deletes its own files.
        await objects.DeletePrefixAsync(VideoStore.UserPrefix(userId), ct);
        return TypedResults.NoContent();
    }

    private static Ok<List<StyleView>> Styles() =>
        TypedResults.Ok(VideoStyle.All.Select(s => new StyleView(s.Id, s.Name, s.Description, $"/videos/styles/{s.Id}/preview.png")).ToList());

    private static Results<FileContentHttpResult, ProblemHttpResult> PreviewAsync(string id, VideoJobs jobs)
    {
        if (VideoStyle.Find(id) is not { } style)
        {
            return TypedResults.Problem(statusCode: 404, title: "Style not found");
        }

        var png = Previews.GetOrAdd(style.Id, _ => Preview(style, jobs));
        return TypedResults.File(png, "image/png");
    }

    internal static byte[] Preview(VideoStyle style, VideoJobs jobs)
    {
        var script = jobs.Script(VideoKinds.Welcome, VideoProfile.From("Ada", ["Learn Spanish", "Plan my week"], "en", "en-US-female-1"));
        var track = NarrationBuilder.CaptionsOnly(script, style);
        using var painter = new FramePainter(style, script, track.Cues, track.Duration, burnCaptions: false);
        return painter.Still(1.6, SKEncodedImageFormat.Png, 100);
    }

    private static ServerSentEventsResult<VideoView> Events(HttpContext http, VideoStore store, VideoObjects objects, VideoProgress progress, IOptions<VideoOptions> options, TimeProvider time, CancellationToken ct) =>
        TypedResults.ServerSentEvents(Stream(http.User.UserId(), http, store, objects, progress, options.Value, time, ct));

    private static async IAsyncEnumerable<SseItem<VideoView>> Stream(string userId, HttpContext http, VideoStore store, VideoObjects objects, VideoProgress progress, VideoOptions options, TimeProvider time, [EnumeratorCancellation] CancellationToken ct)
    {
        var seen = new Dictionary<string, (string Status, int Progress, int Revision)>(StringComparer.Ordinal);
        while (!ct.IsCancellationRequested)
        {
            // Subscribe before reading, so a change between the read and the wait is not missed.
            var changed = progress.WaitAsync(userId, TimeSpan.FromSeconds(1), time, ct);
            var videos = await store.ListAsync(userId, ct);
            foreach (var video in videos)
            {
                var state = (video.Status, video.Progress, video.Revision);
                if (!seen.TryGetValue(video.Id, out var last) || last != state)
                {
                    seen[video.Id] = state;
                    yield return new SseItem<VideoView>(View(video, objects, options, http), video.Status == VideoStatus.Ready ? "ready" : video.Status == VideoStatus.Failed ? "failed" : "progress");
                }
            }

            if (videos.Count > 0 && videos.All(v => v.IsFinal))
            {
                yield break;
            }

            await changed;
        }
    }

    private static VideoView View(VideoRow v, VideoObjects objects, VideoOptions options, HttpContext http)
    {
        var ready = v.Status == VideoStatus.Ready;
        return new VideoView(v.Id, v.Kind, v.Style, v.Status, v.Progress, v.Provider, v.Narration, v.Narration == NarrationModes.CaptionsOnly,
            v.Degraded, v.BetterVersion, v.DurationSeconds, v.Bytes,
            ready ? objects.Presign(v, "video.mp4") : null, ready ? objects.Presign(v, "poster.jpg") : null, ready ? objects.Presign(v, "captions.vtt") : null,
            ready ? http.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().Add(options.LinkLifetime) : null, v.CreatedAt, v.ReadyAt);
    }

    private static ProblemHttpResult Invalid(string title, string detail) => TypedResults.Problem(statusCode: 422, title: title, detail: detail);
}
