using Microsoft.Extensions.Options;
using Sunaiva.Voice.Catalog;
using Sunaiva.Voice.Pipeline;

namespace Sunaiva.Voice.Tts;

/// <summary>
/// At start: loads the speech models (VAD, pocketsphinx decoders) so the first session does not pay for them, then
/// synthesizes the greetings, fillers and error phrases of every warmed voice into the cache, one at a time and after
/// the models so it never competes with a live session for long.
/// </summary>
public sealed partial class TtsWarmup(VoiceActivityModel vad, SphinxDecoderPool decoders, TtsService tts, VoiceCatalog catalog, IOptions<TtsOptions> options, ILogger<TtsWarmup> logger) : BackgroundService
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
        foreach (var voice in catalog.All.Where(v => settings.WarmLanguages.Contains(v.Language, StringComparer.OrdinalIgnoreCase)))
        {
            foreach (var phrase in settings.WarmPhrases)
            {
                try
                {
                    await tts.SynthesizeWholeAsync(voice, phrase, SpeechStyle.Neutral, stoppingToken);
                    warmed++;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogWarmFailed(logger, voice.Id, e.GetType().Name);
                    return;
                }
            }
        }

        LogWarmed(logger, warmed);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "TTS cache warmed with {Count} clips")]
    private static partial void LogWarmed(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TTS warm-up stopped at voice {VoiceId}: {Error}")]
    private static partial void LogWarmFailed(ILogger logger, string voiceId, string error);
}
