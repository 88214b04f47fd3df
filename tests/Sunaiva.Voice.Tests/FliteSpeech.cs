using System.Diagnostics;
using System.Globalization;

namespace Sunaiva.Voice.Tests;

/// <summary>
/// Speech made with flite (Debian package, installed by eng/bootstrap.sh) at a chosen rate, pitch, pitch variation and
/// level, as PCM16 16 kHz mono. Deterministic: the same arguments give the same samples. Shared by the emotion tests and
/// bench/Sunaiva.Bench.Emotion (linked there).
/// </summary>
public static class FliteSpeech
{
    /// <param name="voice">A built-in 16 kHz flite voice: slt (female), rms, awb (male).</param>
    /// <param name="durationStretch">Above 1 slower, below 1 faster.</param>
    /// <param name="levelDbfs">The RMS level the speech (samples above the noise floor) is scaled to.</param>
    public static async Task<short[]> SynthesizeAsync(string text, string voice, double durationStretch, double f0MeanHz, double f0StddevHz, double levelDbfs, CancellationToken cancellationToken = default)
    {
        var path = Path.Combine(Path.GetTempPath(), $"sunaiva-flite-{Guid.NewGuid():N}.wav");
        try
        {
            var start = new ProcessStartInfo("flite") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var argument in new[]
            {
                "-voice", voice, "-t", text, "-o", path,
                "--setf", FormattableString.Invariant($"duration_stretch={durationStretch}"),
                "--setf", FormattableString.Invariant($"int_f0_target_mean={f0MeanHz}"),
                "--setf", FormattableString.Invariant($"int_f0_target_stddev={f0StddevHz}"),
            })
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException("flite did not start (apt-get install flite).");
            await process.WaitForExitAsync(cancellationToken);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"flite exited with {process.ExitCode.ToString(CultureInfo.InvariantCulture)}: {await process.StandardError.ReadToEndAsync(cancellationToken)}");
            }

            return ScaleTo(ReadWav16kMono(await File.ReadAllBytesAsync(path, cancellationToken)), levelDbfs);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static short[] ReadWav16kMono(byte[] wav)
    {
        // RIFF chunks: find "fmt " (check 16 kHz, mono, 16 bit) and "data".
        var position = 12;
        short[]? samples = null;
        while (position + 8 <= wav.Length)
        {
            var id = System.Text.Encoding.ASCII.GetString(wav, position, 4);
            var size = BitConverter.ToInt32(wav, position + 4);
            if (id == "fmt " && (BitConverter.ToInt16(wav, position + 10) != 1 || BitConverter.ToInt32(wav, position + 12) != 16000 || BitConverter.ToInt16(wav, position + 22) != 16))
            {
                throw new InvalidOperationException("flite did not produce PCM16 16 kHz mono; use a 16 kHz voice (slt, rms, awb).");
            }

            if (id == "data")
            {
                size = Math.Min(size, wav.Length - position - 8);
                samples = new short[size / 2];
                Buffer.BlockCopy(wav, position + 8, samples, 0, samples.Length * 2);
                break;
            }

            position += 8 + size + (size & 1);
        }

        return samples ?? throw new InvalidOperationException("flite's WAV has no data chunk.");
    }

    private static short[] ScaleTo(short[] samples, double levelDbfs)
    {
        var loud = samples.Where(s => Math.Abs((int)s) > 300).Select(s => (double)s * s).ToArray();
        if (loud.Length == 0)
        {
            return samples;
        }

        var rms = Math.Sqrt(loud.Average()) / 32768.0;
        var gain = Math.Pow(10, levelDbfs / 20) / rms;
        return samples.Select(s => (short)Math.Clamp(Math.Round(s * gain), short.MinValue, short.MaxValue)).ToArray();
    }
}
