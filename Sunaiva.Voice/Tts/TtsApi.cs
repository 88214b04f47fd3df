using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;
using Sunaiva.Voice.Catalog;

namespace Sunaiva.Voice.Tts;

public sealed record TtsRequest(string? VoiceId, string? Text);

public static class TtsApi
{
    public const int MaxTextLength = 2000;

    public static IEndpointRouteBuilder MapTtsApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/tts", SpeakAsync).RequireAuthorization().WithTags("Speech")
            .WithSummary("Speak a text with a catalog voice: audio/wav (16-bit mono, 16 kHz), streamed as it is synthesized")
            .WithDescription("Served from the cache when the same voice and text were spoken before (header Sunaiva-Tts-Cache: hit|miss), otherwise through the tts provider chain: a cloud voice (OpenAI, ElevenLabs) when configured, espeak-ng otherwise or when the cloud fails (header Sunaiva-Tts-Provider; Sunaiva-Degraded names a fallback). text: 1 to 2000 characters. Any authenticated caller (services call it with a service token whose sub is the user).")
            .Produces<Stream>(StatusCodes.Status200OK, "audio/wav")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status422UnprocessableEntity, StatusCodes.Status503ServiceUnavailable)
            .WithRequestExample(new TtsRequest("en-GB-female-1", "Welcome to Sunaiva."));
        app.MapGet("/tts/clips/{id}", ClipAsync).AllowAnonymous().WithTags("Speech")
            .WithSummary("A clip handed out as a short-lived URL (the id is the capability; it expires after Voice:Tts:ClipUrlLifetime)")
            .WithDescription("Small clips come from the cache; large ones from object storage, streamed through, or a 302 to a presigned URL of the WAV object when Voice:Tts:PresignStoredClips is on. 503 with Retry-After while object storage does not answer.")
            .Produces<byte[]>(StatusCodes.Status200OK, "audio/wav")
            .Produces(StatusCodes.Status302Found)
            .ProducesProblems(StatusCodes.Status404NotFound, StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<Results<PushStreamHttpResult, ProblemHttpResult>> SpeakAsync(TtsRequest request, HttpContext http, VoiceCatalog catalog, TtsService tts, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Text) || request.Text.Length > MaxTextLength)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid text", detail: $"text must have 1 to {MaxTextLength} characters.");
        }

        if (string.IsNullOrEmpty(request.VoiceId) || catalog.Find(request.VoiceId) is not { } voice)
        {
            return TypedResults.Problem(statusCode: 422, title: "Voice not in the catalog", detail: "voiceId must be one of GET /voices.");
        }

        using var _ = MeteringContext.ForUser(http.User.UserId());
        var clip = await tts.OpenAsync(voice, request.Text, SpeechStyle.Neutral, ct);
        http.Response.Headers["Sunaiva-Tts-Cache"] = clip.CacheHit ? "hit" : "miss";
        if (clip.Provider is { } madeBy)
        {
            http.Response.Headers["Sunaiva-Tts-Provider"] = madeBy;
        }

        if (clip.Whole is { } whole)
        {
            return TypedResults.Stream(async body =>
            {
                await body.WriteAsync(TtsFormat.WavHeader(whole.Length), ct);
                await body.WriteAsync(whole, ct);
            }, "audio/wav");
        }

        // Open the stream before answering: a chain with no adapter left throws here and becomes 503 + Retry-After.
        var chunks = clip.Chunks.GetAsyncEnumerator(ct);
        if (!await chunks.MoveNextAsync())
        {
            await chunks.DisposeAsync();
            http.Response.Headers.RetryAfter = "5";
            return TypedResults.Problem(statusCode: 503, title: "Speech synthesis produced no audio");
        }

        if (!clip.CacheHit && clip.Provider is { } provider)
        {
            http.Response.Headers["Sunaiva-Tts-Provider"] = provider;
            if (clip.Degraded)
            {
                http.Response.Headers[IntegrationKernelExtensions.DegradedHeader] = provider;
            }
        }

        var size = clip.Length is { } length ? (int?)checked((int)length) : null;
        return TypedResults.Stream(async body =>
        {
            await using (chunks)
            {
                await body.WriteAsync(TtsFormat.WavHeader(size), ct);
                do
                {
                    await body.WriteAsync(chunks.Current, ct);
                    await body.FlushAsync(ct);
                }
                while (await chunks.MoveNextAsync());
            }
        }, "audio/wav");
    }

    private static async Task<Results<FileContentHttpResult, PushStreamHttpResult, RedirectHttpResult, ProblemHttpResult>> ClipAsync(
        string id, HttpContext http, TtsService tts, IOptions<TtsOptions> options, CancellationToken ct)
    {
        if (id.Length != 32 || !id.All(char.IsAsciiHexDigitLower) || await tts.FindClipAsync(id, ct) is not { } clip)
        {
            return TypedResults.Problem(statusCode: 404, title: "No such clip", detail: "The clip expired or never existed.");
        }

        if (clip.Pcm is { } pcm)
        {
            return TypedResults.File([.. TtsFormat.WavHeader(pcm.Length), .. pcm], "audio/wav");
        }

        if (options.Value.PresignStoredClips && tts.Presign(clip.StorageKey!, clip.ExpiresAt) is { } url)
        {
            return TypedResults.Redirect(url);
        }

        if (await tts.OpenStoredAsync(clip.StorageKey!, ct) is not { } stored)
        {
            http.Response.Headers.RetryAfter = "5";
            return TypedResults.Problem(statusCode: 503, title: "Object storage unavailable", detail: "The clip is kept in object storage, which does not answer; try again shortly.");
        }

        return TypedResults.Stream(async body =>
        {
            await using (stored.Pcm)
            {
                await body.WriteAsync(TtsFormat.WavHeader(checked((int)stored.Length)), ct);
                await stored.Pcm.CopyToAsync(body, ct);
            }
        }, "audio/wav");
    }
}
