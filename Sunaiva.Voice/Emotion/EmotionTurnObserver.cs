using Microsoft.Extensions.Caching.Memory;
using Sunaiva.Voice.Pipeline;
using Sunaiva.Voice.Tts;

namespace Sunaiva.Voice.Emotion;

/// <summary>
/// Labels every user turn of a voice session with <see cref="EmotionDetector"/>: an <c>emotion</c> event for the client,
/// a hint for the reply and a speaking style for its TTS. A session's first calm spoken turns become the speaker's own
/// prosody baseline (clearly more accurate than the default norms; see docs/voice.md, "Emotion").
/// </summary>
public sealed class EmotionTurnObserver(EmotionDetector detector, IMemoryCache baselines) : ITurnObserver
{
    /// <summary>Calm turns that make up a speaker's baseline.</summary>
    private const int BaselineTurns = 3;

    public ValueTask<TurnObservation?> ObserveAsync(UserTurn turn, CancellationToken cancellationToken)
    {
        var key = "emotion-baseline:" + turn.SessionId;
        var calm = baselines.GetOrCreate(key, entry =>
        {
            // Sessions resume within 2 minutes; a baseline kept a while longer covers that.
            entry.SlidingExpiration = TimeSpan.FromMinutes(10);
            entry.Size = 1;
            return new List<ProsodyFeatures>();
        })!;
        ProsodyBaseline baseline;
        lock (calm)
        {
            baseline = calm.Count > 0 ? ProsodyBaseline.FromTurns(calm) : ProsodyBaseline.Default;
        }

        var reading = turn.Audio.IsEmpty || turn.SampleRate != 16_000
            ? detector.Detect(turn.Text)
            : detector.Detect(turn.Text, turn.Audio.Span, baseline);
        if (reading is { Label: EmotionLabel.Neutral, Prosody: { } prosody })
        {
            lock (calm)
            {
                if (calm.Count < BaselineTurns)
                {
                    calm.Add(prosody);
                }
            }
        }

        var payload = new
        {
            turn = turn.Turn,
            label = reading.LabelName,
            valence = Math.Round(reading.Valence, 3),
            arousal = Math.Round(reading.Arousal, 3),
            confidence = Math.Round(reading.Confidence, 3),
        };
        var hint = reading.Label == EmotionLabel.Neutral
            ? null
            : $"The user sounds {reading.LabelName} (confidence {reading.Confidence:0.00}); answer with matching care.";
        var style = new SpeechStyle(ToPercent(reading.Tts.RateFactor), ToPercent(reading.Tts.PitchFactor));
        return ValueTask.FromResult<TurnObservation?>(new TurnObservation("emotion", payload, hint, style == SpeechStyle.Neutral ? null : style));
    }

    private static int ToPercent(double factor) => (int)Math.Round((factor - 1.0) * 100);
}
