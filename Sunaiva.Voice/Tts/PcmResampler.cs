using NAudio.Dsp;

namespace Sunaiva.Voice.Tts;

/// <summary>Streams PCM16 mono from one rate to another with NAudio's WDL resampler (sinc filter, keeps state between chunks).</summary>
public sealed class PcmResampler
{
    private readonly WdlResampler? _resampler;
    private readonly double _ratio;
    private byte? _oddByte;
    private float[] _out = new float[4096];

    public PcmResampler(int fromRate, int toRate)
    {
        if (fromRate == toRate)
        {
            return;
        }

        _ratio = (double)toRate / fromRate;
        _resampler = new WdlResampler();
        _resampler.SetMode(true, 2, false);
        _resampler.SetFilterParms();
        _resampler.SetFeedMode(true);
        _resampler.SetRates(fromRate, toRate);
    }

    /// <summary>Resamples a chunk of little-endian PCM16 bytes (any length; an odd byte waits for the next chunk).</summary>
    public byte[] Process(ReadOnlySpan<byte> pcm)
    {
        byte[] input;
        if (_oddByte is { } odd)
        {
            input = new byte[pcm.Length + 1];
            input[0] = odd;
            pcm.CopyTo(input.AsSpan(1));
            _oddByte = null;
        }
        else
        {
            input = pcm.ToArray();
        }

        var samples = input.Length / 2;
        if (input.Length % 2 == 1)
        {
            _oddByte = input[^1];
        }

        if (_resampler is null)
        {
            return input.AsSpan(0, samples * 2).ToArray();
        }

        if (samples == 0)
        {
            return [];
        }

        var needed = _resampler.ResamplePrepare(samples, 1, out var inBuffer);
        for (var i = 0; i < needed; i++)
        {
            inBuffer[i] = (short)(input[2 * i] | (input[(2 * i) + 1] << 8)) / 32768f;
        }

        var capacity = (int)(samples * _ratio) + 64;
        if (_out.Length < capacity)
        {
            _out = new float[capacity];
        }

        var produced = _resampler.ResampleOut(_out, needed, capacity, 1);
        var bytes = new byte[produced * 2];
        for (var i = 0; i < produced; i++)
        {
            var s = (short)Math.Clamp(_out[i] * 32768f, short.MinValue, short.MaxValue);
            bytes[2 * i] = (byte)s;
            bytes[(2 * i) + 1] = (byte)(s >> 8);
        }

        return bytes;
    }
}
