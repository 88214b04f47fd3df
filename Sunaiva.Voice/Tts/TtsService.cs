using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.Voice.Catalog;

namespace Sunaiva.Voice.Tts;

/// <summary>A clip kept in the cache: PCM16 mono at <see cref="TtsFormat.SampleRate"/> and the provider that made it.</summary>
public sealed record CachedClip(string Provider, byte[] Pcm);

/// <summary>Audio being produced for one text: from the cache (whole) or from the <c>tts</c> chain (as it is synthesized).</summary>
public sealed class TtsClip(bool cacheHit, IAsyncEnumerable<ReadOnlyMemory<byte>> chunks, byte[]? whole)
{
    public bool CacheHit { get; } = cacheHit;

    /// <summary>The whole clip when it came from the cache (its length is known up front).</summary>
    public byte[]? Whole { get; } = whole;

    public IAsyncEnumerable<ReadOnlyMemory<byte>> Chunks { get; } = chunks;
}

/// <summary>
/// Text to speech through the cache and the <c>tts</c> provider chain (its breaker, chaos switch and chunk deadlines apply).
/// Clips are cached by voice, its adapter settings, style and text; hits and the cost they saved are metered.
/// </summary>
public sealed class TtsService(ProviderChain<ITtsAdapter> chain, HybridCache cache, LedgerMeter meter, IOptions<TtsOptions> options, TimeProvider time)
{
    // Bump when synthesis arguments or the output format change, so stale clips are not served.
    private const string CacheVersion = "v1";
    private static readonly HybridCacheEntryOptions ReadOnly = new() { Flags = HybridCacheEntryFlags.DisableLocalCacheWrite | HybridCacheEntryFlags.DisableDistributedCacheWrite };

    public static string CacheKey(VoiceEntry voice, string text, SpeechStyle style)
    {
        var material = $"{voice.Id}|{voice.Local.Voice}+{voice.Local.Variant}|{voice.Local.Pitch}|{voice.Local.Rate}|{voice.OpenAi}|{style.Key}|{TtsFormat.SampleRate}|{text}";
        return $"tts:{CacheVersion}:{voice.Id}:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(material)))}";
    }

    /// <summary>Opens the audio of <paramref name="text"/>: a cache hit is whole at once; a miss streams from the chain and is cached when complete.</summary>
    public async ValueTask<TtsClip> OpenAsync(VoiceEntry voice, string text, SpeechStyle style, CancellationToken ct)
    {
        var key = CacheKey(voice, text, style);
        var cached = await cache.GetOrCreateAsync<CachedClip?>(key, static _ => ValueTask.FromResult<CachedClip?>(null), ReadOnly, cancellationToken: ct);
        if (cached is not null)
        {
            meter.RecordCache("tts", cached.Provider, hit: true, "characters", text.Length);
            return new TtsClip(true, Single(cached.Pcm), cached.Pcm);
        }

        meter.RecordCache("tts", "espeak", hit: false, "characters", text.Length);
        return new TtsClip(false, SynthesizeAndCacheAsync(voice, text, style, key, ct), null);
    }

    /// <summary>The whole clip (cached or synthesized), e.g. for a URL handed to an MCP client.</summary>
    public async ValueTask<byte[]> SynthesizeWholeAsync(VoiceEntry voice, string text, SpeechStyle style, CancellationToken ct)
    {
        var clip = await OpenAsync(voice, text, style, ct);
        if (clip.Whole is { } whole)
        {
            return whole;
        }

        using var buffer = new MemoryStream();
        await foreach (var chunk in clip.Chunks.WithCancellation(ct))
        {
            buffer.Write(chunk.Span);
        }

        return buffer.ToArray();
    }

    /// <summary>Stores a short-lived id for the clip of <paramref name="text"/> (synthesizing it now), for <c>GET /tts/clips/{id}</c>.</summary>
    public async ValueTask<(string Id, DateTimeOffset ExpiresAt)> CreateClipAsync(VoiceEntry voice, string text, CancellationToken ct)
    {
        var pcm = await SynthesizeWholeAsync(voice, text, SpeechStyle.Neutral, ct);
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var lifetime = options.Value.ClipUrlLifetime;
        await cache.SetAsync($"tts-clip:{id}", new CachedClip("clip", pcm), new HybridCacheEntryOptions { Expiration = lifetime, LocalCacheExpiration = lifetime }, cancellationToken: ct);
        return (id, time.GetUtcNow() + lifetime);
    }

    public async ValueTask<byte[]?> FindClipAsync(string id, CancellationToken ct)
    {
        var clip = await cache.GetOrCreateAsync<CachedClip?>($"tts-clip:{id}", static _ => ValueTask.FromResult<CachedClip?>(null), ReadOnly, cancellationToken: ct);
        return clip?.Pcm;
    }

    private async IAsyncEnumerable<ReadOnlyMemory<byte>> SynthesizeAndCacheAsync(VoiceEntry voice, string text, SpeechStyle style, string key, [EnumeratorCancellation] CancellationToken ct)
    {
        var limit = options.Value.MaxCachedBytes;
        var stream = chain.StreamAsync(
            new ProviderOperation("synthesize-stream", Unit: "characters"),
            (adapter, call, token) =>
            {
                call.Units = text.Length;
                return adapter.SynthesizeAsync(voice, text, style, token);
            },
            ct);
        using var collected = new MemoryStream();
        var keep = true;
        await foreach (var chunk in stream.WithCancellation(ct))
        {
            if (keep)
            {
                collected.Write(chunk.Span);
                keep = collected.Length <= limit;
            }

            yield return chunk;
        }

        if (keep && collected.Length > 0)
        {
            var expiration = options.Value.CacheExpiration;
            await cache.SetAsync(key, new CachedClip(stream.Provider ?? "espeak", collected.ToArray()),
                new HybridCacheEntryOptions { Expiration = expiration, LocalCacheExpiration = TimeSpan.FromHours(1) }, tags: ["tts"], cancellationToken: CancellationToken.None);
        }
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Single(byte[] pcm)
    {
        await Task.CompletedTask;
        yield return pcm;
    }
}
