namespace Sunaiva.Voice.Emotion;

/// <summary>What the words of a turn say: VADER-style valence, emotion cues, emphasis.</summary>
/// <param name="Valence">VADER's normalized compound score, -1..1.</param>
/// <param name="Cues">Summed weight of the cue words per emotion (negated cues do not count for their emotion).</param>
/// <param name="Emphasis">0..1: exclamation marks and words in capitals.</param>
/// <param name="Words">Number of words.</param>
public sealed record TextAffect(double Valence, IReadOnlyDictionary<EmotionLabel, double> Cues, double Emphasis, int Words);

/// <summary>
/// Scores a transcript with the VADER rules that matter for speech: lexicon valence, boosters (decaying over three words),
/// negation within three words (valence times -0.74), "but" shifting weight to the clause after it, capitals and
/// exclamation marks. Written here rather than taken from a package because no maintained .NET port is served; the
/// data (lexicon, negations, boosters) is VADER's own, read from files.
/// </summary>
public sealed class TextAffectAnalyzer(EmotionLexicon lexicon)
{
    private const double NegationScalar = -0.74;
    private const double CapsIncrement = 0.733;
    private const double ExclamationIncrement = 0.292;
    private const double Alpha = 15;

    private static readonly char[] Trim = ['.', ',', '!', '?', ';', ':', '"', '(', ')', '[', ']', '{', '}', '-', '…'];

    public TextAffect Analyze(string transcript)
    {
        var raw = transcript.Replace('\u2019', '\'').Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .Select(t => t.Trim(Trim)).Where(t => t.Length > 0).ToArray();
        var lower = raw.Select(t => t.ToLowerInvariant()).ToArray();
        var mixedCase = raw.Any(t => t.Any(char.IsLower)) && raw.Any(IsShout);

        var sentiments = new double[raw.Length];
        var cues = Enum.GetValues<EmotionLabel>().ToDictionary(l => l, _ => 0.0);
        for (var i = 0; i < raw.Length; i++)
        {
            var token = lower[i];
            var negated = IsNegated(lower, i);
            var boost = 0.0;
            for (var back = 1; back <= 3 && i - back >= 0; back++)
            {
                if (lexicon.Boosters.TryGetValue(lower[i - back], out var b))
                {
                    boost += b * (back == 1 ? 1 : back == 2 ? 0.95 : 0.9);
                }
            }

            if (lexicon.Valence.TryGetValue(token, out var v) && !lexicon.Boosters.ContainsKey(token))
            {
                if (mixedCase && IsShout(raw[i]))
                {
                    v += Math.Sign(v) * CapsIncrement;
                }

                v += Math.Sign(v) * boost;
                sentiments[i] = negated ? v * NegationScalar : v;
            }

            if (lexicon.Cues.TryGetValue(token, out var cue))
            {
                var weight = cue.Weight * (1 + Math.Max(boost, 0) * 2);
                if (!negated)
                {
                    cues[cue.Label] += weight;
                }
                else if (cue.Label == EmotionLabel.Happy)
                {
                    // "not happy", "don't love it": the absence of joy reads as low mood, not as neutral.
                    cues[EmotionLabel.Sad] += weight * 0.5;
                }
            }
        }

        // "but": the clause before it counts half, the one after it half again as much (VADER).
        var butAt = Array.FindIndex(lower, t => t == "but");
        if (butAt >= 0)
        {
            for (var i = 0; i < sentiments.Length; i++)
            {
                sentiments[i] *= i < butAt ? 0.5 : i > butAt ? 1.5 : 1;
            }
        }

        var sum = sentiments.Sum();
        var exclamations = Math.Min(transcript.Count(c => c == '!'), 4);
        if (sum != 0)
        {
            sum += Math.Sign(sum) * exclamations * ExclamationIncrement;
        }

        var valence = Math.Clamp(sum / Math.Sqrt(sum * sum + Alpha), -1, 1);
        var shouted = raw.Length == 0 ? 0 : (double)raw.Count(IsShout) / raw.Length;
        var emphasis = Math.Clamp(exclamations * 0.25 + (mixedCase ? shouted * 2 : 0), 0, 1);
        return new TextAffect(valence, cues, emphasis, raw.Length);
    }

    private bool IsNegated(string[] tokens, int i)
    {
        for (var back = 1; back <= 3 && i - back >= 0; back++)
        {
            var t = tokens[i - back];
            if (lexicon.Negations.Contains(t) || t.EndsWith("n't", StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsShout(string token) => token.Length > 1 && token.Any(char.IsLetter) && !token.Any(char.IsLower);
}
