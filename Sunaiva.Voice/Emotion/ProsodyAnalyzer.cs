using System.Numerics;

namespace Sunaiva.Voice.Emotion;

/// <summary>
/// Measures pitch (YIN), energy and speaking rate of PCM16 16 kHz mono speech. Frames of 32 ms every 10 ms; a frame is
/// speech when its RMS level is within 30 dB of the loudest frame and above -50 dBFS; a speech frame is voiced when YIN
/// finds a period between 60 and 500 Hz (cumulative mean normalized difference under 0.2), judged on every other
/// speech frame.
/// </summary>
public static class ProsodyAnalyzer
{
    public const int SampleRate = 16000;
    private const int Window = 512;
    private const int Hop = 160;
    private const int MinLag = SampleRate / 500;
    private const int MaxLag = SampleRate / 60;
    private const double YinThreshold = 0.2;

    /// <summary>The features, or null when there is less than a quarter second of speech to judge.</summary>
    public static ProsodyFeatures? Measure(ReadOnlySpan<short> pcm, int words)
    {
        var frameCount = (pcm.Length - Window - MaxLag) / Hop + 1;
        if (frameCount < 25)
        {
            return null;
        }

        var levels = new double[frameCount];
        for (var f = 0; f < frameCount; f++)
        {
            levels[f] = LevelDb(pcm.Slice(f * Hop, Window));
        }

        var gate = Math.Max(levels.Max() - 30, -50);
        var frame = new float[Window + MaxLag];
        var pitches = new List<double>();
        var speechLevels = new List<double>();
        for (var f = 0; f < frameCount; f++)
        {
            if (levels[f] < gate)
            {
                continue;
            }

            speechLevels.Add(levels[f]);
            if (speechLevels.Count % 2 == 0)
            {
                // Pitch every 20 ms is plenty for a median and a spread, and halves the cost.
                continue;
            }

            var slice = pcm.Slice(f * Hop, Window + MaxLag);
            for (var i = 0; i < slice.Length; i++)
            {
                frame[i] = slice[i];
            }

            if (Yin(frame) is { } hz)
            {
                pitches.Add(hz);
            }
        }

        var speechSeconds = speechLevels.Count * (double)Hop / SampleRate;
        if (speechSeconds < 0.25)
        {
            return null;
        }

        var median = pitches.Count > 0 ? Median(pitches) : 0;
        var semitones = pitches.Count > 1 ? StdDev(pitches.Select(p => 12 * Math.Log2(p / median))) : 0;
        return new ProsodyFeatures(
            SpeechSeconds: speechSeconds,
            VoicedSeconds: pitches.Count * 2.0 * Hop / SampleRate,
            PitchHz: median,
            PitchSpreadSemitones: semitones,
            EnergyDb: speechLevels.Average(),
            EnergySpreadDb: StdDev(speechLevels),
            WordsPerSecond: words / speechSeconds);
    }

    private static double LevelDb(ReadOnlySpan<short> samples)
    {
        double sum = 0;
        foreach (var s in samples)
        {
            sum += (double)s * s;
        }

        var rms = Math.Sqrt(sum / samples.Length) / 32768.0;
        return 20 * Math.Log10(Math.Max(rms, 1e-6));
    }

    // de Cheveigné & Kawahara (2002), steps 2-5: difference function, cumulative mean normalization, absolute threshold,
    // parabolic interpolation.
    // The difference function is the cost (Window x MaxLag per frame): it runs on System.Numerics vectors.
    private static double? Yin(float[] x)
    {
        Span<double> d = stackalloc double[MaxLag + 1];
        d[0] = 1;
        double running = 0;
        var width = Vector<float>.Count;
        var head = x.AsSpan(0, Window);
        for (var tau = 1; tau <= MaxLag; tau++)
        {
            var lagged = x.AsSpan(tau, Window);
            var acc = Vector<float>.Zero;
            var j = 0;
            for (; j <= Window - width; j += width)
            {
                var diff = new Vector<float>(head[j..]) - new Vector<float>(lagged[j..]);
                acc += diff * diff;
            }

            double sum = Vector.Sum(acc);
            for (; j < Window; j++)
            {
                var diff = head[j] - lagged[j];
                sum += diff * diff;
            }

            running += sum;
            d[tau] = running == 0 ? 1 : sum * tau / running;
        }

        for (var tau = MinLag; tau < MaxLag; tau++)
        {
            if (d[tau] >= YinThreshold)
            {
                continue;
            }

            while (tau + 1 < MaxLag && d[tau + 1] < d[tau])
            {
                tau++;
            }

            var (a, b, c) = (d[tau - 1], d[tau], d[tau + 1]);
            var denominator = a - 2 * b + c;
            var shift = denominator == 0 ? 0 : 0.5 * (a - c) / denominator;
            return SampleRate / (tau + Math.Clamp(shift, -1, 1));
        }

        return null;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static double StdDev(IEnumerable<double> values)
    {
        var list = values as IList<double> ?? values.ToList();
        if (list.Count < 2)
        {
            return 0;
        }

        var mean = list.Average();
        return Math.Sqrt(list.Sum(v => (v - mean) * (v - mean)) / (list.Count - 1));
    }
}
