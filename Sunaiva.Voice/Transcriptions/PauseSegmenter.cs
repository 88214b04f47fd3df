namespace Sunaiva.Voice.Transcriptions;

/// <summary>
/// Cuts 16 kHz PCM into stretches of speech at pauses (a few quiet frames in a row), at most <see cref="MaxSeconds"/>
/// long, so each is decoded on its own (bounded decoder memory) and gets its own start and end time.
/// </summary>
internal sealed class PauseSegmenter
{
    public sealed record Segment(long StartSample, short[] Samples);

    private const int SampleRate = 16000;
    private const int MinSeconds = 2;
    private const int MaxSeconds = 20;
    private const int QuietFramesForPause = 3;
    private const double QuietRms = 400;

    private readonly List<short> _current = [];
    private long _start;
    private int _quiet;

    /// <summary>Adds a frame (about 100 ms); returns a finished segment when a pause or the maximum length ends one.</summary>
    public Segment? Add(short[] frame)
    {
        _current.AddRange(frame);
        _quiet = Rms(frame) < QuietRms ? _quiet + 1 : 0;
        var length = _current.Count;
        return (_quiet >= QuietFramesForPause && length >= MinSeconds * SampleRate) || length >= MaxSeconds * SampleRate ? Take() : null;
    }

    public Segment? Flush() => _current.Count > 0 ? Take() : null;

    private Segment Take()
    {
        var segment = new Segment(_start, [.. _current]);
        _start += _current.Count;
        _current.Clear();
        _quiet = 0;
        return segment;
    }

    private static double Rms(short[] frame)
    {
        if (frame.Length == 0)
        {
            return 0;
        }

        double sum = 0;
        foreach (var s in frame)
        {
            sum += (double)s * s;
        }

        return Math.Sqrt(sum / frame.Length);
    }
}
