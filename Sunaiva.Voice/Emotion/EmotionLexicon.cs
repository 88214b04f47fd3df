using System.Globalization;

namespace Sunaiva.Voice.Emotion;

/// <summary>
/// The word data the detector reads: VADER's valence lexicon, negations and boosters (vader-sentiment, Apache-2.0; see
/// Data/NOTICE.md) and Sunaiva's emotion cue words. Loaded once per process from the files embedded in the assembly.
/// </summary>
public sealed class EmotionLexicon
{
    private const string ResourcePrefix = "emotion/";

    public EmotionLexicon(IReadOnlyDictionary<string, double> valence, IReadOnlySet<string> negations, IReadOnlyDictionary<string, double> boosters, IReadOnlyDictionary<string, (EmotionLabel Label, double Weight)> cues)
    {
        Valence = valence;
        Negations = negations;
        Boosters = boosters;
        Cues = cues;
    }

    /// <summary>Mean valence of a token, -4..4 (VADER).</summary>
    public IReadOnlyDictionary<string, double> Valence { get; }

    public IReadOnlySet<string> Negations { get; }

    /// <summary>Booster words and how much they raise (or lower) the next sentiment word's intensity.</summary>
    public IReadOnlyDictionary<string, double> Boosters { get; }

    /// <summary>Words that point to one emotion, with a weight.</summary>
    public IReadOnlyDictionary<string, (EmotionLabel Label, double Weight)> Cues { get; }

    /// <summary>Reads the embedded data files; fails naming the file when one is missing or malformed.</summary>
    public static EmotionLexicon LoadEmbedded()
    {
        var valence = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var fields in Rows("vader_lexicon.tsv", 2))
        {
            valence[fields[0]] = double.Parse(fields[1], CultureInfo.InvariantCulture);
        }

        var negations = new HashSet<string>(StringComparer.Ordinal);
        var boosters = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var fields in Rows("vader_modifiers.tsv", 3))
        {
            if (fields[0] == "negation")
            {
                negations.Add(fields[1]);
            }
            else
            {
                boosters[fields[1]] = double.Parse(fields[2], CultureInfo.InvariantCulture);
            }
        }

        var cues = new Dictionary<string, (EmotionLabel, double)>(StringComparer.Ordinal);
        foreach (var fields in Rows("emotion_cues.tsv", 3))
        {
            var label = Enum.Parse<EmotionLabel>(fields[1], ignoreCase: true);
            cues[fields[0]] = (label, double.Parse(fields[2], CultureInfo.InvariantCulture));
        }

        return new EmotionLexicon(valence, negations, boosters, cues);
    }

    private static IEnumerable<string[]> Rows(string file, int fields)
    {
        using var stream = typeof(EmotionLexicon).Assembly.GetManifestResourceStream(ResourcePrefix + file)
            ?? throw new InvalidOperationException($"Emotion data file {file} is not embedded in Sunaiva.Voice (Emotion/Data/{file}).");
        using var reader = new StreamReader(stream);
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var parts = line.Split('\t');
            if (parts.Length < fields)
            {
                throw new InvalidOperationException($"Emotion data file {file}, line {lineNumber}: expected {fields} tab-separated fields.");
            }

            yield return parts;
        }
    }
}
