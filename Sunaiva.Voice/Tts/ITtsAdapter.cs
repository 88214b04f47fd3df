using Sunaiva.Integration;
using Sunaiva.Voice.Catalog;

namespace Sunaiva.Voice.Tts;

/// <summary>How a reply should sound beyond the voice: relative changes of rate and pitch (a turn observer's hint, e.g. a calmer voice for a sad user).</summary>
public sealed record SpeechStyle(int RatePercent = 0, int PitchPercent = 0)
{
    public static readonly SpeechStyle Neutral = new();

    public string Key => $"r{RatePercent}p{PitchPercent}";
}

/// <summary>The <c>tts</c> capability: text to PCM16 mono at <see cref="TtsFormat.SampleRate"/>, streamed as it is produced.</summary>
public interface ITtsAdapter : IProviderAdapter
{
    IAsyncEnumerable<ReadOnlyMemory<byte>> SynthesizeAsync(VoiceEntry voice, string text, SpeechStyle style, CancellationToken cancellationToken);

    /// <summary>What of the voice this adapter speaks with (model, provider voice, settings): part of the cache key, so a clip is never served for a voice it was not made with.</summary>
    string VoiceKey(VoiceEntry voice) => voice.Id;
}

/// <summary>The one audio format the voice service speaks: what the WebSocket sends and what <c>POST /tts</c> returns.</summary>
public static class TtsFormat
{
    public const int SampleRate = 16000;

    /// <summary>A WAV header for PCM16 mono; <paramref name="dataBytes"/> null writes the streaming sizes (0xFFFFFFFF) browsers and ffmpeg accept.</summary>
    public static byte[] WavHeader(int? dataBytes)
    {
        var header = new byte[44];
        var span = header.AsSpan();
        "RIFF"u8.CopyTo(span);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(span[4..], dataBytes is { } d ? (uint)(36 + d) : uint.MaxValue);
        "WAVEfmt "u8.CopyTo(span[8..]);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(span[16..], 16);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(span[20..], 1);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(span[22..], 1);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(span[24..], SampleRate);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(span[28..], SampleRate * 2);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(span[32..], 2);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(span[34..], 16);
        "data"u8.CopyTo(span[36..]);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(span[40..], dataBytes is { } n ? (uint)n : uint.MaxValue - 36);
        return header;
    }
}
