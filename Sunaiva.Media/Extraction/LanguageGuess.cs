namespace Sunaiva.Media.Extraction;

/// <summary>
/// Picks the Postgres text search configuration of a text from its most frequent function words (stop words are
/// distinctive per language); 'simple' when no language stands out, so nothing is stemmed wrongly.
/// </summary>
public static class LanguageGuess
{
    private static readonly Dictionary<string, string[]> Markers = new()
    {
        ["english"] = ["the", "and", "of", "to", "is", "in", "that", "it", "with", "for", "was", "this"],
        ["french"] = ["le", "la", "les", "et", "des", "est", "une", "dans", "que", "pour", "pas", "qui"],
        ["german"] = ["der", "die", "und", "das", "ist", "nicht", "ein", "zu", "mit", "den", "ich", "sie"],
        ["spanish"] = ["el", "los", "las", "y", "es", "una", "por", "con", "para", "del", "que", "como"],
        ["italian"] = ["il", "di", "che", "e", "è", "per", "una", "sono", "della", "non", "gli", "con"],
        ["portuguese"] = ["o", "os", "as", "e", "um", "uma", "não", "com", "para", "do", "da", "que"],
        ["dutch"] = ["de", "het", "een", "en", "van", "is", "niet", "dat", "op", "met", "voor", "zijn"],
    };

    private static readonly Dictionary<string, string[]> ByWord = Markers
        .SelectMany(m => m.Value.Select(w => (Word: w, Language: m.Key)))
        .GroupBy(x => x.Word)
        .ToDictionary(g => g.Key, g => g.Select(x => x.Language).ToArray());

    public static string For(string text)
    {
        var scores = new Dictionary<string, int>();
        var words = 0;
        foreach (var word in text.AsSpan(0, Math.Min(text.Length, 20_000)).ToString().ToLowerInvariant()
                     .Split([' ', '\n', '\r', '\t', ',', '.', ';', ':', '!', '?', '"', '(', ')'], StringSplitOptions.RemoveEmptyEntries))
        {
            words++;
            if (ByWord.TryGetValue(word, out var languages))
            {
                foreach (var language in languages)
                {
                    scores[language] = scores.GetValueOrDefault(language) + 1;
                }
            }
        }

        if (words < 3 || scores.Count == 0)
        {
            return "simple";
        }

        // The evidence asked for grows with the text: one function word in ten, at least one and at most three. A short
        // note ("A note about pangolins and quokkas") has one or two, and indexed as 'simple' its plurals were never found
        // by the singular; a single marker of a language with no rival is enough there (a note with one marker of each
        // of two languages stays 'simple').
        var needed = Math.Clamp(words / 10, 1, 3);
        var ranked = scores.OrderByDescending(s => s.Value).ToList();
        var best = ranked[0];
        var second = ranked.Count > 1 ? ranked[1].Value : 0;
        return best.Value >= needed && best.Value >= second * 1.3 ? best.Key : "simple";
    }
}
