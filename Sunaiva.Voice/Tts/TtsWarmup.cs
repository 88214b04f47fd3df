using Microsoft.Extensions.Options;
using Sunaiva.Voice.Catalog;
using Sunaiva.Integration;
using Sunaiva.Voice.Pipeline;

namespace Sunaiva.Voice.Tts;

/// <summary>
/// At start: loads the speech models (VAD, pocketsphinx decoders) so the first session does not pay for them, then
/// synthesizes the greetings, fillers and error phrases of every warmed voice into the cache, one at a time and after
/// the models so it never competes with a live session for long. Through the <c>tts</c> chain, so a configured cloud
/// voice is what gets cached; what that costs is bounded by <see cref="TtsOptions.WarmCloudCharacters"/> per start
/// (phrases already cached, e.g. in Redis from the previous start, cost nothing and do not count).
/// </summary>
public sealed partial class TtsWarmup(
    VoiceActivityModel vad, SphinxDecoderPool decoders, TtsService tts, VoiceCatalog catalog, PriceBook prices, IOptions<TtsOptions> options, ILogger<TtsWarmup> logger) : BackgroundService
{
    private readonly TaskCompletionSource _warmed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the models are loaded and the phrases cached (benchmarks wait for it).</summary>
    public Task Warmed => _warmed.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await WarmAsync(stoppingToken);
        }
        finally
        {
            _warmed.TrySetResult();
        }
    }

    private async Task WarmAsync(CancellationToken stoppingToken)
    {
        await Task.Yield();
        _ = vad.Kind;
        decoders.EnsureLoaded();
        var settings = options.Value;
        if (!settings.WarmAtStart)
        {
            return;
        }

        var warmed = 0;
        var paidCharacters = 0;
        foreach (var voice in catalog.All.Where(v => settings.WarmLanguages.Contains(v.Language, StringComparer.OrdinalIgnoreCase)))
        {
            foreach (var phrase in settings.WarmPhrases)
            {
                try
                {
                    var clip = await tts.OpenAsync(voice, phrase, SpeechStyle.Neutral, stoppingToken);
                    if (!clip.CacheHit)
                    {
                        var paid = prices.UnitPrice(tts.Preferred.Provider, "characters") > 0;
                        if (paid && paidCharacters + phrase.Length > settings.WarmCloudCharacters)
                        {
                            // The clip's stream was never read: nothing was sent to the provider.
                            LogWarmBudgetSpent(logger, tts.Preferred.Provider, paidCharacters, warmed);
                            return;
                        }

                        await foreach (var _ in clip.Chunks.WithCancellation(stoppingToken))
                        {
                        }

                        await clip.StoredKey.WaitAsync(stoppingToken);
                        if (clip.Provider is { } provider && prices.UnitPrice(provider, "characters") > 0)
                        {
                            paidCharacters += phrase.Length;
                        }
                    }

                    warmed++;
                    WarmedClips++;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogWarmFailed(logger, voice.Id, e.GetType().Name);
                    return;
                }
            }
        }

        LogWarmed(logger, warmed, paidCharacters);
    }

    /// <summary>Clips warmed (cached or found cached) since start.</summary>
    public int WarmedClips { get; private set; }

    [LoggerMessage(Level = LogLevel.Information, Message = "TTS cache warmed with {Count} clips ({PaidCharacters} characters sent to a paid provider)")]
    private static partial void LogWarmed(ILogger logger, int count, int paidCharacters);

    [LoggerMessage(Level = LogLevel.Information, Message = "TTS warm-up stopped: the {Provider} budget is spent ({PaidCharacters} characters, {Count} clips warmed)")]
    private static partial void LogWarmBudgetSpent(ILogger logger, string provider, int paidCharacters, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TTS warm-up stopped at voice {VoiceId}: {Error}")]
    private static partial void LogWarmFailed(ILogger logger, string voiceId, string error);
}
