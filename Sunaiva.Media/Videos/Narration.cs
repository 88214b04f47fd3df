namespace Sunaiva.Media.Videos;

/// <summary>One narrated sentence on the video's timeline (seconds from the start).</summary>
public sealed record Cue(double Start, double End, string Text, int Scene);

/// <summary>How the video speaks: synthesized speech, or captions burned into the frames when all speech failed.</summary>
public static class NarrationModes
{
    public const string Speech = "speech";
    public const string CaptionsOnly = "captions-only";
}

/// <summary>
/// A narration: 16-bit mono PCM of the whole script, the timing of each sentence, and who spoke it.
/// <see cref="Pcm"/> is empty for captions-only videos (the timing then comes from reading speed).
/// </summary>
public sealed record NarrationTrack(byte[] Pcm, int SampleRate, IReadOnlyList<Cue> Cues, double Duration, string Mode, string? Provider)
{
    public bool HasSpeech => Mode == NarrationModes.Speech;

    /// <summary>The track as a WAV file (ffmpeg's second input).</summary>
    public byte[] ToWav() => Wav.Write(Pcm, SampleRate);
}

/// <summary>Reads and writes the plain PCM WAV files espeak-ng and Voice's /tts produce.</summary>
public static class Wav
{
    /// <summary>Reads 16-bit mono PCM; streamed WAVs (espeak-ng --stdout) announce a data size they never had, so the rest of the file is taken.</summary>
    public static (byte[] Pcm, int SampleRate) Read(ReadOnlySpan<byte> wav)
    {
        if (wav.Length < 44 || !wav[..4].SequenceEqual("RIFF"u8) || !wav.Slice(8, 4).SequenceEqual("WAVE"u8))
        {
            throw new InvalidDataException("not a RIFF/WAVE file");
        }

        var sampleRate = 0;
        var position = 12;
        while (position + 8 <= wav.Length)
        {
            var id = wav.Slice(position, 4);
            var size = (int)Math.Min(BitConverter.ToUInt32(wav.Slice(position + 4, 4)), int.MaxValue);
            var body = position + 8;
            if (id.SequenceEqual("fmt "u8))
            {
                var format = BitConverter.ToUInt16(wav.Slice(body, 2));
                var channels = BitConverter.ToUInt16(wav.Slice(body + 2, 2));
                sampleRate = BitConverter.ToInt32(wav.Slice(body + 4, 4));
                var bits = BitConverter.ToUInt16(wav.Slice(body + 14, 2));
                if (format != 1 || channels != 1 || bits != 16)
                {
                    throw new InvalidDataException($"expected 16-bit mono PCM, got format {format}, {channels} channels, {bits} bits");
                }
            }
            else if (id.SequenceEqual("data"u8))
            {
                if (sampleRate == 0)
                {
                    throw new InvalidDataException("data before fmt");
                }

                var length = Math.Min(size, wav.Length - body) & ~1;
                return (wav.Slice(body, length).ToArray(), sampleRate);
            }

            position = body + size + (size & 1);
        }

        throw new InvalidDataException("no data chunk");
    }

    public static byte[] Write(byte[] pcm, int sampleRate)
    {
        var wav = new byte[44 + pcm.Length];
        var span = wav.AsSpan();
        "RIFF"u8.CopyTo(span);
        BitConverter.TryWriteBytes(span[4..], 36 + pcm.Length);
        "WAVEfmt "u8.CopyTo(span[8..]);
        BitConverter.TryWriteBytes(span[16..], 16);
        BitConverter.TryWriteBytes(span[20..], (short)1);
        BitConverter.TryWriteBytes(span[22..], (short)1);
        BitConverter.TryWriteBytes(span[24..], sampleRate);
        BitConverter.TryWriteBytes(span[28..], sampleRate * 2);
        BitConverter.TryWriteBytes(span[32..], (short)2);
        BitConverter.TryWriteBytes(span[34..], (short)16);
        "data"u8.CopyTo(span[36..]);
        BitConverter.TryWriteBytes(span[40..], pcm.Length);
        pcm.CopyTo(span[44..]);
        return wav;
    }

    /// <summary>Linear resampling of 16-bit PCM (Voice and espeak-ng may answer at different rates).</summary>
    public static byte[] Resample(byte[] pcm, int from, int to)
    {
        if (from == to)
        {
            return pcm;
        }

        var input = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(pcm);
        var count = (int)((long)input.Length * to / from);
        var output = new byte[count * 2];
        var samples = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(output.AsSpan());
        for (var i = 0; i < count; i++)
        {
            var x = (double)i * from / to;
            var i0 = (int)x;
            var i1 = Math.Min(i0 + 1, input.Length - 1);
            var f = x - i0;
            samples[i] = (short)(input[Math.Min(i0, input.Length - 1)] * (1 - f) + input[i1] * f);
        }

        return output;
    }
}
