namespace Sunaiva.Voice.Pipeline;

/// <summary>What the endpointer saw in the audio just fed.</summary>
public enum SpeechEventKind
{
    /// <summary>Speech began; <see cref="SpeechEvent.Audio"/> holds the pre-roll and the voiced windows so far.</summary>
    Started,

    /// <summary>One more window of the ongoing speech.</summary>
    Audio,

    /// <summary>Enough silence: the turn is over. <see cref="SpeechEvent.SpeechEndSample"/> is where the last voiced window ended.</summary>
    Ended,

    /// <summary>
    /// A short pause (<see cref="PipelineOptions.SpeculativeSilence"/>) inside speech: the turn may be over, so the reply can
    /// be prepared; <see cref="Ended"/> or <see cref="Resumed"/> follows. <see cref="SpeechEvent.SpeechEndSample"/> as for Ended.
    /// </summary>
    Paused,

    /// <summary>Speech came back after <see cref="Paused"/> and before <see cref="Ended"/>: the same turn goes on.</summary>
    Resumed,
}

public readonly record struct SpeechEvent(SpeechEventKind Kind, short[] Audio, long SpeechEndSample);

/// <summary>
/// Turns a PCM16 16 kHz mono stream into speech start / audio / end events with a VAD over 32 ms windows:
/// speech starts after <see cref="PipelineOptions.MinSpeech"/> of voiced windows and ends after
/// <see cref="PipelineOptions.EndOfSpeechSilence"/> of unvoiced ones (hysteresis keeps a word's quiet tail in the turn).
/// </summary>
public sealed class Endpointer : IDisposable
{
    private const int Window = VoiceActivityModel.WindowSamples;
    private readonly IVoiceActivityStream _vad;
    private readonly float _enter;
    private readonly float _stay;
    private readonly int _minSpeechWindows;
    private readonly int _silenceWindows;
    private readonly int _pauseWindows;
    private readonly int _maxWindows;
    private readonly int _preRollWindows;
    private readonly Queue<short[]> _preRoll = new();
    private readonly List<short[]> _pending = [];
    private readonly short[] _partial = new short[Window];
    private readonly float[] _floats = new float[Window];
    private int _partialCount;
    private byte? _oddByte;
    private bool _inSpeech;
    private bool _paused;
    private int _silenceRun;
    private int _speechWindows;
    private long _samples;
    private long _lastVoicedEnd;

    public Endpointer(IVoiceActivityStream vad, PipelineOptions options)
    {
        _vad = vad;
        _enter = (float)options.SpeechThreshold;
        _stay = (float)Math.Max(0.05, options.SpeechThreshold - 0.15);
        _minSpeechWindows = WindowsOf(options.MinSpeech);
        _silenceWindows = WindowsOf(options.EndOfSpeechSilence);
        _pauseWindows = options.SpeculativeSilence > TimeSpan.Zero ? WindowsOf(options.SpeculativeSilence) : 0;
        if (_pauseWindows >= _silenceWindows)
        {
            _pauseWindows = 0;
        }
        _maxWindows = WindowsOf(options.MaxUtterance);
        _preRollWindows = (int)(options.PreRoll.TotalMilliseconds / 32);
    }

    public bool InSpeech => _inSpeech;

    /// <summary>Samples received so far (audio time: 16 per millisecond).</summary>
    public long Samples => _samples;

    public float LastProbability { get; private set; }

    public void Feed(ReadOnlySpan<byte> pcm, List<SpeechEvent> events)
    {
        var i = 0;
        if (_oddByte is { } low && pcm.Length > 0)
        {
            Push((short)(low | (pcm[0] << 8)), events);
            _oddByte = null;
            i = 1;
        }

        for (; i + 1 < pcm.Length; i += 2)
        {
            Push((short)(pcm[i] | (pcm[i + 1] << 8)), events);
        }

        if (i < pcm.Length)
        {
            _oddByte = pcm[i];
        }
    }

    private void Push(short sample, List<SpeechEvent> events)
    {
        _partial[_partialCount++] = sample;
        if (_partialCount == Window)
        {
            _partialCount = 0;
            OnWindow(events);
        }
    }

    private void OnWindow(List<SpeechEvent> events)
    {
        var window = (short[])_partial.Clone();
        for (var k = 0; k < Window; k++)
        {
            _floats[k] = window[k] / 32768f;
        }

        var p = _vad.Process(_floats);
        LastProbability = p;
        _samples += Window;
        if (!_inSpeech)
        {
            if (p >= _enter)
            {
                _pending.Add(window);
                if (_pending.Count >= _minSpeechWindows)
                {
                    _inSpeech = true;
                    _silenceRun = 0;
                    _speechWindows = _pending.Count;
                    _lastVoicedEnd = _samples;
                    var audio = _preRoll.Concat(_pending).SelectMany(w => w).ToArray();
                    _preRoll.Clear();
                    _pending.Clear();
                    events.Add(new SpeechEvent(SpeechEventKind.Started, audio, 0));
                }

                return;
            }

            foreach (var w in _pending)
            {
                AddPreRoll(w);
            }

            _pending.Clear();
            AddPreRoll(window);
            return;
        }

        _speechWindows++;
        events.Add(new SpeechEvent(SpeechEventKind.Audio, window, 0));
        if (p >= _stay)
        {
            _silenceRun = 0;
            _lastVoicedEnd = _samples;
            if (_paused)
            {
                _paused = false;
                events.Add(new SpeechEvent(SpeechEventKind.Resumed, [], 0));
            }
        }
        else
        {
            _silenceRun++;
        }

        if (_silenceRun >= _silenceWindows || _speechWindows >= _maxWindows)
        {
            _inSpeech = false;
            _paused = false;
            _silenceRun = 0;
            events.Add(new SpeechEvent(SpeechEventKind.Ended, [], _lastVoicedEnd));
        }
        else if (!_paused && _pauseWindows > 0 && _silenceRun == _pauseWindows)
        {
            _paused = true;
            events.Add(new SpeechEvent(SpeechEventKind.Paused, [], _lastVoicedEnd));
        }
    }

    private void AddPreRoll(short[] window)
    {
        _preRoll.Enqueue(window);
        while (_preRoll.Count > _preRollWindows)
        {
            _preRoll.Dequeue();
        }
    }

    private static int WindowsOf(TimeSpan span) => Math.Max(1, (int)Math.Ceiling(span.TotalMilliseconds / 32));

    public void Dispose() => _vad.Dispose();
}
