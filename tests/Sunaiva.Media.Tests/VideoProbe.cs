using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Sunaiva.Media.Tests;

/// <summary>ffprobe/ffmpeg readings of a rendered MP4: streams, duration, atom order, loudness.</summary>
public static class VideoProbe
{
    public static async Task<JsonElement> ProbeAsync(string path)
    {
        var output = await RunAsync("ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path);
        return JsonDocument.Parse(output.Stdout).RootElement.Clone();
    }

    /// <summary>The mean volume in dB of the audio track (ffmpeg volumedetect); silence is -91 dB.</summary>
    public static async Task<double> MeanVolumeAsync(string path)
    {
        var output = await RunAsync("ffmpeg", "-hide_banner", "-nostats", "-i", path, "-vn", "-af", "volumedetect", "-f", "null", "-");
        var line = output.Stderr.Split('\n').First(l => l.Contains("mean_volume:", StringComparison.Ordinal));
        var value = line[(line.IndexOf("mean_volume:", StringComparison.Ordinal) + 12)..].Replace("dB", string.Empty, StringComparison.Ordinal).Trim();
        return double.Parse(value, CultureInfo.InvariantCulture);
    }

    /// <summary>True when the moov atom comes before mdat (fast start: playable while downloading).</summary>
    public static bool MoovBeforeMdat(byte[] mp4)
    {
        var position = 0L;
        while (position + 8 <= mp4.Length)
        {
            var size = (long)((uint)(mp4[position] << 24 | mp4[position + 1] << 16 | mp4[position + 2] << 8 | mp4[position + 3]));
            var type = System.Text.Encoding.ASCII.GetString(mp4, (int)position + 4, 4);
            if (type == "moov")
            {
                return true;
            }

            if (type == "mdat")
            {
                return false;
            }

            if (size == 1)
            {
                size = BitConverter.ToInt64(mp4.AsSpan((int)position + 8, 8).ToArray().Reverse().ToArray());
            }

            if (size < 8)
            {
                return false;
            }

            position += size;
        }

        return false;
    }

    private static async Task<(string Stdout, string Stderr)> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (await stdout, await stderr);
    }
}
