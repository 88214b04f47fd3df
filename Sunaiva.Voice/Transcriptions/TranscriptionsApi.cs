using System.Diagnostics;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Http.HttpResults;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;
using Sunaiva.Voice.Pipeline;

namespace Sunaiva.Voice.Transcriptions;

/// <summary>One stretch of speech between pauses, with its place in the audio.</summary>
public sealed record TranscriptSegment(double Start, double End, string Text);

/// <summary>What <c>POST /transcriptions</c> answers: the whole text and its segments.</summary>
public sealed record Transcript(string Text, double DurationSeconds, IReadOnlyList<TranscriptSegment> Segments);

/// <summary>
/// <c>POST /transcriptions</c>: a service (Media's file extraction) sends an audio file (mp3, wav, m4a; the raw bytes as
/// the body) and gets its text with timings. The audio is written to a temporary file (an m4a's index may sit at its end,
/// so a pipe is not enough), decoded by ffmpeg to 16 kHz mono PCM, cut at pauses, and each stretch is recognized by
/// pocketsphinx through the <c>stt</c> chain (metered in audio-seconds). Bounded: body size, audio duration, wall time.
/// </summary>
public static partial class TranscriptionsApi
{
    public const long MaxBodyBytes = 100L * 1024 * 1024;

    private const int SampleRate = 16000;

    /// <summary>Audio past this is not transcribed (ffmpeg stops there).</summary>
    private static readonly TimeSpan MaxAudio = TimeSpan.FromMinutes(20);

    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);

    public static IEndpointRouteBuilder MapTranscriptionsApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/transcriptions", TranscribeAsync).RequireAuthorization().WithTags("Speech")
            .Accepts<byte[]>("audio/mpeg", "audio/wav", "audio/mp4", "application/octet-stream")
            .WithSummary("Transcribe an audio file (mp3, wav, m4a as the raw body) with the local speech engine: text and segments with start/end seconds")
            .WithDescription("For services (Media calls it with a service token whose sub is the file's owner). At most 100 MB and 20 minutes of audio; 415 when ffmpeg cannot decode the body; 503 + Retry-After when the speech engine is unavailable.")
            .Produces<Transcript>()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<Results<Ok<Transcript>, ProblemHttpResult>> TranscribeAsync(
        HttpContext http,
        ProviderChain<ISttAdapter> stt,
        SphinxDecoderPool decoders,
        TimeProvider time,
        ILoggerFactory loggers,
        CancellationToken ct)
    {
        if (http.Request.ContentLength is > MaxBodyBytes)
        {
            return TypedResults.Problem(statusCode: 413, title: "Audio too large", detail: $"At most {MaxBodyBytes / (1024 * 1024)} MB.");
        }

        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = MaxBodyBytes;
        }

        var path = Path.Combine(Path.GetTempPath(), $"sunaiva-transcribe-{Guid.NewGuid():N}");
        try
        {
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                await http.Request.Body.CopyToAsync(file, ct);
                if (file.Length == 0)
                {
                    return TypedResults.Problem(statusCode: 400, title: "No audio", detail: "Send the audio file as the request body.");
                }
            }

            using var timeout = new CancellationTokenSource(Timeout, time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            using var _ = MeteringContext.ForUser(http.User.UserId());
            var transcript = await TranscribeFileAsync(path, stt, decoders, linked.Token);
            return transcript is null
                ? TypedResults.Problem(statusCode: 415, title: "Audio not decodable", detail: "ffmpeg could not decode the body as audio (mp3, wav, m4a).")
                : TypedResults.Ok(transcript);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TypedResults.Problem(statusCode: 413, title: "Audio too large", detail: $"At most {MaxBodyBytes / (1024 * 1024)} MB.");
        }
        catch (Exception ex) when (ex is ProviderChainException or SpeechRecognitionUnavailableException)
        {
            LogUnavailable(loggers.CreateLogger(typeof(TranscriptionsApi)), ex.GetType().Name);
            http.Response.Headers.RetryAfter = "30";
            return TypedResults.Problem(statusCode: 503, title: "Speech recognition unavailable", detail: "Try again after the Retry-After delay.");
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>Null when ffmpeg cannot decode the file.</summary>
    internal static async Task<Transcript?> TranscribeFileAsync(string path, ProviderChain<ISttAdapter> stt, SphinxDecoderPool decoders, CancellationToken ct)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-nostdin", "-hide_banner", "-loglevel", "error", "-i", path, "-t", ((int)MaxAudio.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture), "-vn", "-ac", "1", "-ar", "16000", "-f", "s16le", "pipe:1" })
        {
            start.ArgumentList.Add(arg);
        }

        using var ffmpeg = Process.Start(start) ?? throw new SpeechRecognitionUnavailableException("ffmpeg did not start");
        var errors = ffmpeg.StandardError.ReadToEndAsync(ct);
        var segments = new List<TranscriptSegment>();
        var segmenter = new PauseSegmenter();
        long samples = 0;
        try
        {
            var bytes = new byte[SampleRate / 10 * 2]; // 100 ms frames
            int read;
            while ((read = await ffmpeg.StandardOutput.BaseStream.ReadAtLeastAsync(bytes, bytes.Length, throwOnEndOfStream: false, ct)) > 0)
            {
                var frame = MemoryMarshal.Cast<byte, short>(bytes.AsSpan(0, read - (read % 2))).ToArray();
                samples += frame.Length;
                if (segmenter.Add(frame) is { } ready)
                {
                    await RecognizeAsync(ready, stt, decoders, segments, ct);
                }
            }

            if (segmenter.Flush() is { } last)
            {
                await RecognizeAsync(last, stt, decoders, segments, ct);
            }

            await ffmpeg.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            ffmpeg.Kill(entireProcessTree: true);
            throw;
        }

        await errors;
        if (ffmpeg.ExitCode != 0 && samples == 0)
        {
            return null;
        }

        return new Transcript(string.Join(' ', segments.Select(s => s.Text)), Math.Round(samples / (double)SampleRate, 2), segments);
    }

    private static async Task RecognizeAsync(PauseSegmenter.Segment segment, ProviderChain<ISttAdapter> stt, SphinxDecoderPool decoders, List<TranscriptSegment> segments, CancellationToken ct)
    {
        var utterance = await decoders.StartAsync(ct);
        using (utterance)
        {
            utterance.Feed(segment.Samples);
            var result = await stt.ExecuteAsync(
                new ProviderOperation("transcribe-file", Unit: "audio-seconds"),
                (adapter, call, token) =>
                {
                    call.Units = utterance.SamplesFed / (decimal)SampleRate;
                    return adapter.FinishAsync(utterance, token);
                },
                ct);
            var text = result.Value.Trim();
            if (text.Length > 0)
            {
                segments.Add(new TranscriptSegment(Math.Round(segment.StartSample / (double)SampleRate, 2), Math.Round((segment.StartSample + segment.Samples.Length) / (double)SampleRate, 2), text));
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Transcription unavailable ({ExceptionType})")]
    private static partial void LogUnavailable(ILogger logger, string exceptionType);
}
