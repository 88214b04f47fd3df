namespace Sunaiva.Voice.Emotion;

/// <summary>
/// Labels a user turn from its words and, when audio is given, its prosody. Each source gives a probability per label; the
/// two are combined as a weighted product (words 1, prosody 0.8). Stateless and thread-safe: one instance per process.
/// </summary>
public sealed class EmotionDetector(TextAffectAnalyzer words)
{
    private const double ProsodyWeight = 0.8;

    private static readonly EmotionLabel[] Labels = Enum.GetValues<EmotionLabel>();

    // Where each emotion sits in (pitch spread, energy, rate) z-space against the speaker's baseline, and its valence and
    // arousal. From the speech-emotion literature's usual picture: sadness slow, quiet and flat; anger loud and lively;
    // anxiety fast and high-strung without the loudness; joy lively and a little louder.
    // Pitch height is in units of 2 semitones above the speaker's ordinary pitch (used only when that is known).
    private static readonly Dictionary<EmotionLabel, Prototype> Prototypes = new()
    {
        [EmotionLabel.Neutral] = new(0, 0, 0, 0, 0, 0.35),
        [EmotionLabel.Happy] = new(0.8, 0.8, 0.2, 1.3, 0.7, 0.65),
        [EmotionLabel.Sad] = new(-0.8, -1.5, -1.5, -1.3, -0.6, 0.15),
        [EmotionLabel.Angry] = new(0.6, 2.0, 0.4, 0.6, -0.7, 0.9),
        [EmotionLabel.Anxious] = new(-0.2, 0, 0.9, 1.6, -0.5, 0.75),
    };

    /// <summary>Words and prosody; an empty or too short <paramref name="pcm16kMono"/> falls back to the words alone.</summary>
    public EmotionReading Detect(string transcript, ReadOnlySpan<short> pcm16kMono, ProsodyBaseline? baseline = null)
    {
        var text = words.Analyze(transcript);
        var prosody = ProsodyAnalyzer.Measure(pcm16kMono, text.Words);
        return Combine(text, prosody, baseline ?? ProsodyBaseline.Default);
    }

    /// <summary>The words alone (a text turn, or when no audio is kept).</summary>
    public EmotionReading Detect(string transcript) => Combine(words.Analyze(transcript), null, ProsodyBaseline.Default);

    private static EmotionReading Combine(TextAffect text, ProsodyFeatures? prosody, ProsodyBaseline baseline)
    {
        var fromWords = Softmax(WordScores(text), 2.5);
        double[] posterior;
        double prosodyArousal = 0;
        if (prosody is null)
        {
            posterior = fromWords;
        }
        else
        {
            var z = ZScores(prosody, baseline);
            var fromProsody = Softmax(Labels.Select(l => -Distance2(z, Prototypes[l]) / 2).ToArray(), 1);
            posterior = Normalize(Labels.Select((_, i) => Math.Log(fromWords[i]) + ProsodyWeight * Math.Log(fromProsody[i])).ToArray());
            prosodyArousal = Sigmoid(0.6 * z.Spread + 0.9 * z.Energy + 0.7 * z.Rate);
        }

        var best = Array.IndexOf(posterior, posterior.Max());
        var label = Labels[best];
        var expectedValence = Labels.Select((l, i) => posterior[i] * Prototypes[l].Valence).Sum();
        var valence = Math.Clamp(0.7 * text.Valence + 0.3 * expectedValence, -1, 1);
        var expectedArousal = Labels.Select((l, i) => posterior[i] * Prototypes[l].Arousal).Sum();
        var textArousal = Math.Clamp(expectedArousal + 0.3 * text.Emphasis, 0, 1);
        var arousal = prosody is null ? textArousal : Math.Clamp(0.5 * textArousal + 0.5 * prosodyArousal, 0, 1);
        var confidence = posterior[best];
        return new EmotionReading(label, Math.Round(valence, 3), Math.Round(arousal, 3), Math.Round(confidence, 3), Hints(label, confidence), prosody,
            Labels.Select((l, i) => (l, Math.Round(posterior[i], 3))).ToDictionary(p => p.l, p => p.Item2));
    }

    private static double[] WordScores(TextAffect text)
    {
        var positive = Math.Max(text.Valence, 0);
        var negative = Math.Max(-text.Valence, 0);
        var cues = text.Cues;
        return
        [
            0.5 - 2.5 * Math.Abs(text.Valence) - 0.4 * (cues[EmotionLabel.Sad] + cues[EmotionLabel.Angry] + cues[EmotionLabel.Anxious] + cues[EmotionLabel.Happy]),
            3.0 * positive + 0.8 * cues[EmotionLabel.Happy] - 1.0 * negative,
            1.2 * negative + 1.2 * cues[EmotionLabel.Sad] - 1.0 * positive,
            1.2 * negative + 1.2 * cues[EmotionLabel.Angry] + 0.6 * text.Emphasis * negative - 1.0 * positive,
            1.2 * negative + 1.2 * cues[EmotionLabel.Anxious] - 1.0 * positive,
        ];
    }

    private static (double Spread, double Energy, double Rate, double? Pitch) ZScores(ProsodyFeatures p, ProsodyBaseline b) =>
        ((p.PitchSpreadSemitones - b.PitchSpreadSemitones) / b.PitchSpreadScale,
         (p.EnergyDb - b.EnergyDb) / b.EnergyScale,
         (p.WordsPerSecond - b.WordsPerSecond) / b.WordsPerSecondScale,
         b.PitchHz > 0 && p.PitchHz > 0 ? 12 * Math.Log2(p.PitchHz / b.PitchHz) / b.PitchScaleSemitones : null);

    private static double Distance2((double Spread, double Energy, double Rate, double? Pitch) z, Prototype prototype)
    {
        var (ds, de, dr) = (z.Spread - prototype.Spread, z.Energy - prototype.Energy, z.Rate - prototype.Rate);
        var dp = z.Pitch is { } pitch ? pitch - prototype.Pitch : 0;
        return ds * ds + de * de + dr * dr + dp * dp;
    }

    private sealed record Prototype(double Spread, double Energy, double Rate, double Pitch, double Valence, double Arousal);

    // Calmer and slower for sad or anxious users, lower and steadier for angry ones, a little brighter for happy ones; the
    // change grows with the confidence so a doubtful reading barely moves the voice.
    private static TtsHints Hints(EmotionLabel label, double confidence)
    {
        var (rate, pitch) = label switch
        {
            EmotionLabel.Sad => (0.88, 0.95),
            EmotionLabel.Anxious => (0.88, 0.97),
            EmotionLabel.Angry => (0.92, 0.94),
            EmotionLabel.Happy => (1.06, 1.05),
            _ => (1.0, 1.0),
        };
        var strength = Math.Clamp((confidence - 0.2) / 0.6, 0, 1);
        return new TtsHints(Math.Round(1 + (rate - 1) * strength, 3), Math.Round(1 + (pitch - 1) * strength, 3));
    }

    private static double[] Softmax(double[] scores, double sharpness) => Normalize(scores.Select(s => s * sharpness).ToArray());

    private static double[] Normalize(double[] logits)
    {
        var max = logits.Max();
        var exp = logits.Select(l => Math.Exp(l - max)).ToArray();
        var sum = exp.Sum();
        return exp.Select(e => e / sum).ToArray();
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));
}
