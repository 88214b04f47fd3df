namespace Sunaiva.Voice.Emotion;

/// <summary>The emotions a user turn is labelled with.</summary>
public enum EmotionLabel
{
    Neutral,
    Happy,
    Sad,
    Angry,
    Anxious,
}

/// <summary>How the reply's TTS should adapt: multiply the voice's rate and pitch by these factors.</summary>
public sealed record TtsHints(double RateFactor, double PitchFactor);

/// <summary>
/// One user turn's emotion: <paramref name="Valence"/> in -1..1 (unpleasant..pleasant), <paramref name="Arousal"/> in 0..1
/// (calm..excited), <paramref name="Confidence"/> in 0..1 (the winning label's probability), the reply's TTS hints, the
/// prosody measured (null without usable audio) and the probability of every label.
/// </summary>
public sealed record EmotionReading(
    EmotionLabel Label,
    double Valence,
    double Arousal,
    double Confidence,
    TtsHints Tts,
    ProsodyFeatures? Prosody,
    IReadOnlyDictionary<EmotionLabel, double> Probabilities)
{
    /// <summary>The label as sent to clients and the reply generator ("happy", "sad", ...).</summary>
    public string LabelName => Label.ToString().ToLowerInvariant();
}
