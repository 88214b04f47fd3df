using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.Voice.Catalog;

namespace Sunaiva.Voice.Tts;

/// <summary>
/// A cache entry: a small clip's PCM16 mono at <see cref="TtsFormat.SampleRate"/> in <see cref="Pcm"/>, or, for a large
/// one, the object in storage that holds it (<see cref="StorageKey"/>, <see cref="Length"/> bytes of PCM).
/// <see cref="Provider"/> made it (a hit saves that provider's price).
/// </summary>
public sealed record CachedClip(string Provider, byte[] Pcm, string? StorageKey = null, long Length = 0, DateTimeOffset? ExpiresAt = null);

/// <summary>Audio being produced for one text: from the cache (whole or streamed from storage) or from the <c>tts</c> chain (as it is synthesized).</summary>
public sealed class TtsClip(bool cacheHit, IAsyncEnumerable<ReadOnlyMemory<byte>> chunks, byte[]? whole, long? length, string? provider, Task<string?> storedKey)
{
    public bool CacheHit { get; } = cacheHit;

    /// <summary>The whole clip when it came from HybridCache.</summary>
    public byte[]? Whole { get; } = whole;

    /// <summary>Bytes of PCM when known up front (a cache hit).</summary>
    public long? Length { get; } = whole?.Length ?? length;

    public IAsyncEnumerable<ReadOnlyMemory<byte>> Chunks { get; } = chunks;

    /// <summary>Who made the audio: known at once for a hit, after the first chunk for a miss.</summary>
    public string? Provider { get; internal set; } = provider;

    /// <summary>A fallback adapter is speaking (the preferred one failed, stalled or was throttled); known after the first chunk.</summary>
    public bool Degraded { get; internal set; }

    /// <summary>Completes once the clip is kept: its object key when it went to object storage, null otherwise (HybridCache, or not kept).</summary>
    public Task<string?> StoredKey { get; } = storedKey;
}

/// <summary>A clip handed out by id: its PCM, or the object that holds it.</summary>
public sealed record ClipContent(byte[]? Pcm, string? StorageKey, long Length, DateTimeOffset ExpiresAt);

/// <summary>
/// Text to speech through the cache and the <c>tts</c> provider chain (cloud adapters first when configured, espeak
/// last; breakers, chaos switch and chunk deadlines apply). Clips are cached by voice, the preferred adapter and its voice
/// settings, style and text: small ones in HybridCache (memory, then Redis), large ones in object storage. Hits, misses
/// and the cost a hit saved (the price of the provider that made the clip) are metered.
/// </summary>
public sealed partial class TtsService(
    ProviderChain<ITtsAdapter> chain, HybridCache cache, TtsStorage storage, TtsCacheStats stats, LedgerMeter meter, IOptions<TtsOptions> options, TimeProvider time, ILogger<TtsService> logger)
{
    public const string Capability = "tts";

    // Bump when synthesis arguments or the output format change, so stale clips are not served.
    private const string CacheVersion = "v2";
    private static readonly HybridCacheEntryOptions ReadOnly = new() { Flags = HybridCacheEntryFlags.DisableLocalCacheWrite | HybridCacheEntryFlags.DisableDistributedCacheWrite };
    private static readonly Task<string?> NotStored = Task.FromResult<string?>(null);

    /// <summary>The adapter that speaks when all is well: the first available one of the chain.</summary>
    public ITtsAdapter Preferred => chain.Adapters.FirstOrDefault(a => a.IsAvailable) ?? chain.Adapters[0];

    /// <summary>
    /// The cache key of a text in a voice as <paramref name="adapter"/> speaks it: configuring a cloud voice (or changing
    /// its model) makes new keys, so audio of another voice is never served for it.
    /// </summary>
    public static string CacheKey(VoiceEntry voice, string text, SpeechStyle style, ITtsAdapter adapter)
    {
        var material = $"{adapter.Provider}|{adapter.VoiceKey(voice)}|{style.Key}|{TtsFormat.SampleRate}|{text}";
        return $"tts:{CacheVersion}:{voice.Id}:{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(material)))}";
    }

    /// <summary>Opens the audio of <paramref name="text"/>: a hit is served from the cache; a miss streams from the chain and is cached when complete.</summary>
    public async ValueTask<TtsClip> OpenAsync(VoiceEntry voice, string text, SpeechStyle style, CancellationToken ct)
    {
        var preferred = Preferred;
        var key = CacheKey(voice, text, style, preferred);
        var cached = await cache.GetOrCreateAsync<CachedClip?>(key, static _ => ValueTask.FromResult<CachedClip?>(null), ReadOnly, cancellationToken: ct);
        if (cached is { StorageKey: null })
        {
            meter.RecordCache(Capability, cached.Provider, hit: true, "characters", text.Length);
            stats.Hit(cached.Provider, text.Length, fromStorage: false);
            return new TtsClip(true, Single(cached.Pcm), cached.Pcm, null, cached.Provider, NotStored);
        }

        if (cached is { StorageKey: { } objectKey } && await storage.OpenAsync(objectKey, ct) is { } stored)
        {
            meter.RecordCache(Capability, cached.Provider, hit: true, "characters", text.Length);
            stats.Hit(cached.Provider, text.Length, fromStorage: true);
            return new TtsClip(true, ReadAsync(stored.Pcm, ct), null, stored.Length, cached.Provider, Task.FromResult<string?>(objectKey));
        }

        meter.RecordCache(Capability, preferred.Provider, hit: false, "characters", text.Length);
        stats.Miss();
        var kept = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        TtsClip? clip = null;
        clip = new TtsClip(false, SynthesizeAndCacheAsync(voice, text, style, key, kept, () => clip!, ct), null, null, null, kept.Task);
        return clip;
    }

    /// <summary>The whole clip (cached or synthesized), e.g. for a URL handed to an MCP client.</summary>
    public async ValueTask<byte[]> SynthesizeWholeAsync(VoiceEntry voice, string text, SpeechStyle style, CancellationToken ct) =>
        (await SynthesizeWholeClipAsync(voice, text, style, ct)).Pcm;

    /// <summary>Stores a short-lived id for the clip of <paramref name="text"/> (synthesizing it now), for <c>GET /tts/clips/{id}</c>.</summary>
    public async ValueTask<(string Id, DateTimeOffset ExpiresAt)> CreateClipAsync(VoiceEntry voice, string text, CancellationToken ct)
    {
        var (pcm, storedKey) = await SynthesizeWholeClipAsync(voice, text, SpeechStyle.Neutral, ct);
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var lifetime = options.Value.ClipUrlLifetime;
        var expiresAt = time.GetUtcNow() + lifetime;

        // A large clip in object storage is referred to, not copied into Redis; without storage its PCM is kept here for the URL's life.
        var entry = storedKey is null ? new CachedClip("clip", pcm, ExpiresAt: expiresAt) : new CachedClip("clip", [], storedKey, pcm.Length, expiresAt);
        await cache.SetAsync($"tts-clip:{id}", entry, new HybridCacheEntryOptions { Expiration = lifetime, LocalCacheExpiration = lifetime }, cancellationToken: ct);
        return (id, expiresAt);
    }

    public async ValueTask<ClipContent?> FindClipAsync(string id, CancellationToken ct)
    {
        var clip = await cache.GetOrCreateAsync<CachedClip?>($"tts-clip:{id}", static _ => ValueTask.FromResult<CachedClip?>(null), ReadOnly, cancellationToken: ct);
        if (clip is null)
        {
            return null;
        }

        var expiresAt = clip.ExpiresAt ?? time.GetUtcNow() + options.Value.ClipUrlLifetime;
        return clip.StorageKey is { } objectKey ? new ClipContent(null, objectKey, clip.Length, expiresAt) : new ClipContent(clip.Pcm, null, clip.Pcm.Length, expiresAt);
    }

    /// <summary>Opens a stored clip's PCM; null when storage does not answer (the caller answers 503).</summary>
    public Task<(Stream Pcm, long Length)?> OpenStoredAsync(string objectKey, CancellationToken ct) => storage.OpenAsync(objectKey, ct);

    /// <summary>A presigned GET link to a stored clip (a WAV object).</summary>
    public string? Presign(string objectKey, DateTimeOffset expiresAt) => storage.Presign(objectKey, expiresAt);

    private async ValueTask<(byte[] Pcm, string? StoredKey)> SynthesizeWholeClipAsync(VoiceEntry voice, string text, SpeechStyle style, CancellationToken ct)
    {
        var clip = await OpenAsync(voice, text, style, ct);
        if (clip.Whole is { } whole)
        {
            return (whole, null);
        }

        using var buffer = new MemoryStream();
        await foreach (var chunk in clip.Chunks.WithCancellation(ct))
        {
            buffer.Write(chunk.Span);
        }

        // Bounded: storage calls give up after Voice:Tts:StorageTimeout.
        var storedKey = await clip.StoredKey.WaitAsync(ct);
        return (buffer.ToArray(), storedKey);
    }

    private async IAsyncEnumerable<ReadOnlyMemory<byte>> SynthesizeAndCacheAsync(
        VoiceEntry voice, string text, SpeechStyle style, string key, TaskCompletionSource<string?> kept, Func<TtsClip> clip, [EnumeratorCancellation] CancellationToken ct)
    {
        var settings = options.Value;
        var handedOff = false;
        var small = storage.Enabled ? settings.StorageThresholdBytes : settings.MaxCachedBytes;
        var limit = storage.Enabled ? Math.Max(settings.MaxStoredBytes, small) : small;
        try
        {
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
            var first = true;
            await foreach (var chunk in stream.WithCancellation(ct))
            {
                if (first)
                {
                    first = false;
                    clip().Provider = stream.Provider;
                    clip().Degraded = stream.Degraded;
                }

                if (keep)
                {
                    collected.Write(chunk.Span);
                    keep = collected.Length <= limit;
                }

                yield return chunk;
            }

            if (!keep || collected.Length == 0)
            {
                kept.TrySetResult(null);
                yield break;
            }

            // A fallback's clip stands in for the preferred voice only briefly: once the provider is back, its voice returns.
            var expiration = stream.Degraded ? settings.DegradedCacheExpiration : settings.CacheExpiration;
            if (expiration <= TimeSpan.Zero)
            {
                kept.TrySetResult(null);
                yield break;
            }

            var provider = stream.Provider ?? EspeakTts.ProviderName;
            var pcm = collected.ToArray();
            var entry = new HybridCacheEntryOptions { Expiration = expiration, LocalCacheExpiration = Min(expiration, TimeSpan.FromHours(1)) };
            if (pcm.Length <= small)
            {
                await cache.SetAsync(key, new CachedClip(provider, pcm), entry, tags: ["tts"], cancellationToken: CancellationToken.None);
                kept.TrySetResult(null);
            }
            else
            {
                // In the background: the listener has all the audio already and must not wait for storage.
                handedOff = true;
                _ = StoreLargeAsync(key, provider, pcm, entry, kept);
            }
        }
        finally
        {
            // Abandoned (barge-in, cancellation) or failed: nothing is kept.
            if (!handedOff)
            {
                kept.TrySetResult(null);
            }
        }
    }

    private async Task StoreLargeAsync(string key, string provider, byte[] pcm, HybridCacheEntryOptions entry, TaskCompletionSource<string?> kept)
    {
        try
        {
            var objectKey = TtsStorage.ObjectKey(key);
            if (await storage.PutAsync(objectKey, pcm, CancellationToken.None))
            {
                stats.Stored();
                await cache.SetAsync(key, new CachedClip(provider, [], objectKey, pcm.Length), entry, tags: ["tts"], cancellationToken: CancellationToken.None);
                kept.TrySetResult(objectKey);
                return;
            }

            kept.TrySetResult(null);
        }
        catch (Exception e)
        {
            LogKeepFailed(logger, e.GetType().Name);
            kept.TrySetResult(null);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadAsync(Stream pcm, [EnumeratorCancellation] CancellationToken ct)
    {
        await using (pcm)
        {
            var buffer = new byte[32 * 1024];
            int read;
            while ((read = await pcm.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct)) > 0)
            {
                // A copy: the chunk is handed on while the buffer is reused.
                yield return buffer.AsSpan(0, read).ToArray();
            }
        }
    }

    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Single(byte[] pcm)
    {
        await Task.CompletedTask;
        yield return pcm;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A large TTS clip could not be kept ({Error}); it will be synthesized again next time")]
    private static partial void LogKeepFailed(ILogger logger, string error);
}
