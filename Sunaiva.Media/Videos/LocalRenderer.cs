using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using SkiaSharp;

namespace Sunaiva.Media.Videos;

/// <summary>A finished render in a scratch folder the caller deletes: the MP4, its poster and captions, and what it cost.</summary>
public sealed record RenderedVideo(string Folder, string VideoPath, string PosterPath, string CaptionsPath, double Duration, long Bytes, double CpuSeconds, string Narration, bool Hurried = false)
{
    public void Delete()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

/// <summary>
/// The local renderer: frames drawn with SkiaSharp are written as raw RGBA straight into ffmpeg's stdin (no frame
/// files), the narration WAV is its second input, and ffmpeg encodes H.264 + AAC with fast start at low CPU priority,
/// killed after <see cref="VideoOptions.RenderTimeout"/>. ffmpeg is started as a plain process rather than through
/// FFMpegCore: FFMpegCore feeds raw frames through a named pipe of its own and hides the process, where here the
/// frames go to stdin and the process is wrapped in <c>nice</c> and killed on timeout or cancellation.
/// </summary>
public sealed partial class LocalRenderer(IOptions<VideoOptions> options, TimeProvider time, ILogger<LocalRenderer> logger)
{
    public const double MinSeconds = 30;
    public const double MaxSeconds = 60;

    /// <summary>Renders into a new scratch folder; <paramref name="progress"/> gets 0..1 as frames are encoded.</summary>
    public async Task<RenderedVideo> RenderAsync(VideoScript script, VideoStyle style, NarrationTrack narration, Func<double, Task>? progress, CancellationToken cancellationToken, bool hurry = false)
    {
        var o = hurry ? options.Value.Hurried() : options.Value;
        var folder = Directory.CreateTempSubdirectory(ScratchSweeper.VideoPrefix).FullName;
        try
        {
            // Fit the narration into 30..60 s: pad a short one with silence, speed up a long one (captions follow).
            var tempo = narration.Duration > MaxSeconds - 0.5 ? narration.Duration / (MaxSeconds - 0.5) : 1.0;
            var cues = tempo == 1.0 ? narration.Cues : narration.Cues.Select(c => c with { Start = c.Start / tempo, End = c.End / tempo }).ToList();
            var duration = Math.Clamp(narration.Duration / tempo, MinSeconds, MaxSeconds);
            var audioPath = Path.Combine(folder, "narration.wav");
            await File.WriteAllBytesAsync(audioPath, PaddedWav(narration, duration * tempo), cancellationToken);

            using var painter = new FramePainter(style, script, cues, duration, burnCaptions: !narration.HasSpeech);
            var posterPath = Path.Combine(folder, "poster.jpg");
            await File.WriteAllBytesAsync(posterPath, painter.Still(PosterTime(painter), SKEncodedImageFormat.Jpeg, 85), cancellationToken);
            var captionsPath = Path.Combine(folder, "captions.vtt");
            await File.WriteAllTextAsync(captionsPath, Captions.ToWebVtt(cues), cancellationToken);

            var videoPath = Path.Combine(folder, "video.mp4");
            var frames = (int)Math.Round(duration * o.FramesPerSecond);
            var started = time.GetTimestamp();
            var ffmpegCpu = await EncodeAsync(o, painter, frames, audioPath, tempo, duration, videoPath, progress, cancellationToken);
            File.Delete(audioPath);
            var elapsed = time.GetElapsedTime(started).TotalSeconds;
            LogRendered(logger, style.Id, frames, elapsed, hurry);
            return new RenderedVideo(folder, videoPath, posterPath, captionsPath, duration, new FileInfo(videoPath).Length, ffmpegCpu.Encoder + ffmpegCpu.Painter, narration.Mode, hurry);
        }
        catch
        {
            Directory.Delete(folder, recursive: true);
            throw;
        }
    }

    /// <summary>Arguments of the encode: raw RGBA frames on stdin, the narration as second input.</summary>
    public static IReadOnlyList<string> EncoderArguments(VideoOptions o, string audioPath, double tempo, double duration, string output)
    {
        var args = new List<string>
        {
            "-hide_banner", "-nostats", "-benchmark", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgba", "-s", $"{FramePainter.Width}x{FramePainter.Height}",
            "-framerate", o.FramesPerSecond.ToString(CultureInfo.InvariantCulture), "-i", "pipe:0",
            "-i", audioPath,
            "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", o.Preset, "-tune", "stillimage", "-crf", o.Crf.ToString(CultureInfo.InvariantCulture),
            "-pix_fmt", "yuv420p", "-g", (o.FramesPerSecond * 10).ToString(CultureInfo.InvariantCulture),
            "-c:a", "aac", "-b:a", "96k", "-ac", "1",
        };
        if (tempo != 1.0)
        {
            args.AddRange(["-af", string.Create(CultureInfo.InvariantCulture, $"atempo={tempo:0.####}")]);
        }

        args.AddRange(["-t", duration.ToString("0.###", CultureInfo.InvariantCulture), "-movflags", "+faststart", output]);
        return args;
    }

    private async Task<(double Encoder, double Painter)> EncodeAsync(VideoOptions o, FramePainter painter, int frames, string audioPath, double tempo, double duration, string output, Func<double, Task>? progress, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("nice")
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-n");
        start.ArgumentList.Add(o.Nice.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add(o.FfmpegPath);
        foreach (var arg in EncoderArguments(o, audioPath, tempo, duration, output))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg did not start");
        using var timeout = new CancellationTokenSource(o.RenderTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        double painterSeconds = 0;
        try
        {
            painterSeconds = await Task.Run(async () =>
            {
                var paintTime = TimeSpan.Zero;
                using var bitmap = new SKBitmap(new SKImageInfo(FramePainter.Width, FramePainter.Height, SKColorType.Rgba8888, SKAlphaType.Premul));
                using var canvas = new SKCanvas(bitmap);
                var stdin = process.StandardInput.BaseStream;
                var reported = 0;
                for (var i = 0; i < frames; i++)
                {
                    linked.Token.ThrowIfCancellationRequested();
                    var before = time.GetTimestamp();
                    painter.Paint(bitmap, canvas, (double)i / o.FramesPerSecond);
                    canvas.Flush();
                    paintTime += time.GetElapsedTime(before);
                    stdin.Write(bitmap.GetPixelSpan());
                    var percent = (i + 1) * 20 / frames;
                    if (percent > reported && progress is not null)
                    {
                        reported = percent;
                        await progress((i + 1) / (double)frames);
                    }
                }

                stdin.Close();
                return paintTime.TotalSeconds;
            }, linked.Token);
            await process.WaitForExitAsync(linked.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            Kill(process);
            if (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"ffmpeg did not finish within {o.RenderTimeout}");
            }

            if (ex is IOException)
            {
                throw new InvalidOperationException($"ffmpeg stopped reading frames: {Tail(await stderr)}", ex);
            }

            throw;
        }

        var log = await stderr;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg exited with {process.ExitCode}: {Tail(log)}");
        }

        var bench = Bench().Match(log);
        var cpu = bench.Success
            ? double.Parse(bench.Groups[1].Value, CultureInfo.InvariantCulture) + double.Parse(bench.Groups[2].Value, CultureInfo.InvariantCulture)
            : 0;
        return (cpu, painterSeconds);
    }

    private static double PosterTime(FramePainter painter) => 1.6;

    private static byte[] PaddedWav(NarrationTrack narration, double seconds)
    {
        var samples = (int)Math.Ceiling(seconds * narration.SampleRate) + narration.SampleRate / 2;
        var pcm = new byte[Math.Max(samples * 2, narration.Pcm.Length)];
        narration.Pcm.CopyTo(pcm, 0);
        return Wav.Write(pcm, narration.SampleRate);
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    private static string Tail(string log) => log.Length > 400 ? log[^400..] : log;

    [GeneratedRegex(@"bench: utime=([\d.]+)s stime=([\d.]+)s")]
    private static partial Regex Bench();

    [LoggerMessage(Level = LogLevel.Information, Message = "Rendered a {Style} video locally: {Frames} frames in {Seconds:0.00} s (hurried {Hurried})")]
    private static partial void LogRendered(ILogger logger, string style, int frames, double seconds, bool hurried);
}
