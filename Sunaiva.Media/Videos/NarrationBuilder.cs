using Sunaiva.Integration;

namespace Sunaiva.Media.Videos;

/// <summary>
/// Speaks a script sentence by sentence through the <c>tts</c> chain (so each caption's timing is exact), with the
/// style's pauses between sentences and scenes. When no speech adapter answers, the narration becomes captions-only:
/// timed at reading speed, burned into the frames, and flagged on the video (never a silent video without notice).
/// </summary>
public sealed partial class NarrationBuilder(ProviderChain<INarrationTts> tts, ILogger<NarrationBuilder> logger)
{
    private const double LeadIn = 0.8;
    private const double Tail = 1.2;
    private const double WordsPerSecond = 2.6;

    public async Task<NarrationTrack> BuildAsync(VideoScript script, VideoStyle style, string? voiceId, string userId, CancellationToken cancellationToken)
    {
        var clips = new List<(string Text, int Scene, byte[] Pcm)>();
        var sampleRate = 0;
        string? provider = null;
        try
        {
            for (var s = 0; s < script.Scenes.Count; s++)
            {
                foreach (var sentence in script.Scenes[s].Sentences)
                {
                    var result = await tts.ExecuteAsync(
                        new ProviderOperation("narrate", Unit: "characters"),   // not retried: the next adapter (or captions) is quicker than a retry
                        async (adapter, call, token) =>
                        {
                            var wav = await adapter.SynthesizeAsync(sentence, voiceId, userId, token);
                            call.Units = sentence.Length;
                            return Wav.Read(wav);
                        },
                        cancellationToken);
                    if (sampleRate == 0)
                    {
                        sampleRate = result.Value.SampleRate;
                    }

                    provider ??= result.Provider;
                    clips.Add((sentence, s, Wav.Resample(result.Value.Pcm, result.Value.SampleRate, sampleRate)));
                }
            }
        }
        catch (ProviderChainException ex)
        {
            LogNoSpeech(logger, ex.Capability, ex.Attempts.Count);
            return CaptionsOnly(script, style);
        }
        catch (PermanentFailureException ex)
        {
            LogNoSpeech(logger, ex.Provider, 1);
            return CaptionsOnly(script, style);
        }

        var pcm = new MemoryStream();
        var cues = new List<Cue>();
        WriteSilence(pcm, LeadIn, sampleRate);
        for (var i = 0; i < clips.Count; i++)
        {
            var start = pcm.Length / 2.0 / sampleRate;
            pcm.Write(clips[i].Pcm);
            var end = pcm.Length / 2.0 / sampleRate;
            cues.Add(new Cue(start, end, clips[i].Text, clips[i].Scene));
            var pause = i + 1 < clips.Count && clips[i + 1].Scene != clips[i].Scene ? style.ScenePause : style.SentencePause;
            WriteSilence(pcm, i + 1 < clips.Count ? pause : Tail, sampleRate);
        }

        return new NarrationTrack(pcm.ToArray(), sampleRate, cues, pcm.Length / 2.0 / sampleRate, NarrationModes.Speech, provider);
    }

    /// <summary>Timing at reading speed for burned-in captions.</summary>
    public static NarrationTrack CaptionsOnly(VideoScript script, VideoStyle style)
    {
        var cues = new List<Cue>();
        var t = LeadIn;
        for (var s = 0; s < script.Scenes.Count; s++)
        {
            var sentences = script.Scenes[s].Sentences;
            for (var i = 0; i < sentences.Count; i++)
            {
                var words = sentences[i].Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
                var length = Math.Max(1.6, words / WordsPerSecond);
                cues.Add(new Cue(t, t + length, sentences[i], s));
                t += length + (i + 1 < sentences.Count ? style.SentencePause : style.ScenePause);
            }
        }

        return new NarrationTrack([], 22050, cues, t + Tail, NarrationModes.CaptionsOnly, null);
    }

    private static void WriteSilence(Stream pcm, double seconds, int sampleRate) =>
        pcm.Write(new byte[(int)(seconds * sampleRate) * 2]);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No speech for a narration ({Capability}, {Attempts} attempts): the video gets burned-in captions")]
    private static partial void LogNoSpeech(ILogger logger, string capability, int attempts);
}
