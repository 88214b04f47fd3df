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

    /// <summary>
    /// How much of the audio track is one pure tone: over the 100 ms blocks that are not silent, the mean share of the
    /// block's energy at <paramref name="hz"/> (Goertzel; 1 for a pure tone of a whole number of cycles per block, near 0 for speech).
    /// </summary>
    public static async Task<(double Share, int VoicedBlocks)> ToneShareAsync(string path, double hz, int sampleRate = 16000)
    {
        var start = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { "-hide_banner", "-nostats", "-i", path, "-vn", "-ac", "1", "-ar", sampleRate.ToString(CultureInfo.InvariantCulture), "-f", "s16le", "-" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        _ = process.StandardError.ReadToEndAsync();
        using var pcm = new MemoryStream();
        await process.StandardOutput.BaseStream.CopyToAsync(pcm);
        await process.WaitForExitAsync();
        var samples = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(pcm.ToArray().AsSpan()).ToArray();
        var block = sampleRate / 10;
        var coefficient = 2 * Math.Cos(2 * Math.PI * hz / sampleRate);
        double sum = 0;
        var voiced = 0;
        for (var offset = 0; offset + block <= samples.Length; offset += block)
        {
            double s1 = 0, s2 = 0, energy = 0;
            for (var i = 0; i < block; i++)
            {
                double x = samples[offset + i];
                energy += x * x;
                var s0 = x + coefficient * s1 - s2;
                s2 = s1;
                s1 = s0;
            }

            if (Math.Sqrt(energy / block) < 300)
            {
                continue;
            }

            var power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
            sum += Math.Min(1, 2 * power / (block * energy));
            voiced++;
        }

        return (voiced == 0 ? 0 : sum / voiced, voiced);
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
