namespace Sunaiva.Media.Videos;

/// <summary>The three onboarding videos.</summary>
public static class VideoKinds
{
    public const string Welcome = "welcome";
    public const string VoiceTour = "voice-tour";
    public const string MemoryVault = "memory-vault";

    public static readonly IReadOnlyList<string> All = [Welcome, VoiceTour, MemoryVault];
}

/// <summary>One scene: what is on screen (headline, body) while its sentences are narrated.</summary>
public sealed record ScriptScene(string Headline, string Body, IReadOnlyList<string> Sentences);

/// <summary>
/// A video's script, filled from the profile; the narration, captions and frames all come from it. <paramref name="Voice"/>
/// is the catalog voice that narrates it (the profile's when it speaks the script's language, else that language's default).
/// </summary>
public sealed record VideoScript(string Kind, string Language, string Title, IReadOnlyList<ScriptScene> Scenes, string? Voice = null)
{
    public IEnumerable<string> Sentences => Scenes.SelectMany(s => s.Sentences);
}

/// <summary>
/// Script templates per video kind and language, as data: <c>Videos/Scripts/{language}.json</c> (embedded), English the
/// fallback. The language is the profile's when a template exists for it (other than the default English), else the
/// voice's region, else English. User text is inserted as plain text in one pass (a name such as "{goals}" stays as it
/// is) and never interpreted as markup by the frames (drawn as text), the narration (espeak-ng without SSML, Voice's
/// /tts as plain text) or the captions (WebVTT-escaped by <see cref="Captions"/>).
/// </summary>
public static partial class ScriptTemplates
{
    public const string Fallback = "en";

    private static readonly Dictionary<string, ScriptFile> Files = Load();

    public static IReadOnlyCollection<string> Languages => Files.Keys;

    /// <summary>The template language for a profile: its language, else its voice's region, else English.</summary>
    public static string LanguageFor(VideoProfile profile)
    {
        var language = Primary(profile.Language);
        if (language != Fallback && Files.ContainsKey(language))
        {
            return language;
        }

        return profile.Voice is { } voice && Files.ContainsKey(Primary(voice)) ? Primary(voice) : Fallback;
    }

    /// <summary>The catalog voice narrating a script in <paramref name="language"/>: the profile's if it speaks that language.</summary>
    public static string NarrationVoice(VideoProfile profile, string language, string defaultVoice) =>
        profile.Voice is { } voice && Primary(voice) == language ? voice
        : Primary(defaultVoice) == language ? defaultVoice
        : Files[language].DefaultVoice;

    public static VideoScript Build(string kind, VideoProfile profile, Func<string?, string?>? voiceDisplayName, string defaultVoice = "en-US-female-1")
    {
        var language = LanguageFor(profile);
        var file = Files[language];
        var words = file.Words;
        var voice = NarrationVoice(profile, language, defaultVoice);
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["name"] = profile.Name ?? words.Name,
            ["greetingName"] = profile.Name ?? words.GreetingName,
            ["goals"] = JoinGoals(profile.Goals, words),
            ["goalsList"] = string.Join("  ·  ", profile.Goals),
            ["voice"] = voiceDisplayName?.Invoke(voice) ?? words.Voice,
        };
        var known = VideoKinds.All.Contains(kind) ? kind : VideoKinds.MemoryVault;
        var template = file.Videos.GetValueOrDefault(known) ?? Files[Fallback].Videos[known];
        var hasGoals = profile.Goals.Count > 0;
        var scenes = template.Scenes.Select(scene =>
        {
            var useGoals = hasGoals || scene.NoGoals is null;
            var body = useGoals ? scene.Body : scene.NoGoals!.Body;
            var sentences = useGoals ? scene.Sentences : scene.NoGoals!.Sentences;
            return new ScriptScene(Fill(scene.Headline, values), Fill(body, values), sentences.Select(s => Fill(s, values)).ToList());
        }).ToList();
        return new VideoScript(known, language, Fill(template.Title, values), scenes, voice);
    }

    /// <summary>One pass over the template's placeholders; an empty value takes the comma or space before it along.</summary>
    private static string Fill(string template, IReadOnlyDictionary<string, string> values)
    {
        var emptied = false;
        var text = Placeholder().Replace(template, m =>
        {
            var value = values.GetValueOrDefault(m.Groups[1].Value, m.Value);
            emptied |= value.Length == 0;
            return value;
        });
        if (!emptied)
        {
            return text;
        }

        text = SpaceBeforePunctuation().Replace(text, "$1");
        text = CommaBeforeStop().Replace(text, "$1");
        text = Spaces().Replace(text, " ").Trim().Trim(',').Trim();
        return text.Length > 0 && char.IsLower(text[0]) ? char.ToUpperInvariant(text[0]) + text[1..] : text;
    }

    private static string JoinGoals(IReadOnlyList<string> goals, ScriptWords words)
    {
        var g = words.LowerGoals ? goals.Select(Lower).ToList() : goals.ToList();
        return g.Count switch
        {
            0 => string.Empty,
            1 => g[0],
            2 => $"{g[0]} {words.And} {g[1]}",
            _ => $"{string.Join(", ", g.Take(g.Count - 1))}{(words.SerialComma ? "," : string.Empty)} {words.And} {g[^1]}",
        };
    }

    // "Learn Spanish" reads as "to learn Spanish" in a sentence; a goal that starts with an acronym keeps its case.
    private static string Lower(string goal) =>
        goal.Length > 1 && char.IsUpper(goal[0]) && !char.IsUpper(goal[1]) ? char.ToLowerInvariant(goal[0]) + goal[1..] : goal;

    private static string Primary(string tag) => tag.Split('-', '_')[0].ToLowerInvariant();

    private static Dictionary<string, ScriptFile> Load()
    {
        var assembly = System.Reflection.Assembly.GetExecutingAssembly();
        var files = new Dictionary<string, ScriptFile>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("videos/scripts/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            var file = System.Text.Json.JsonSerializer.Deserialize<ScriptFile>(stream, Sunaiva.Contracts.EventJson.Options)
                ?? throw new InvalidOperationException($"Embedded resource {resource} is empty.");
            files[file.Language] = file;
        }

        return files.ContainsKey(Fallback) ? files : throw new InvalidOperationException("Embedded resource videos/scripts/en.json is missing.");
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"\{(\w+)\}")]
    private static partial System.Text.RegularExpressions.Regex Placeholder();

    [System.Text.RegularExpressions.GeneratedRegex(@"\s+([,.!?:।])")]
    private static partial System.Text.RegularExpressions.Regex SpaceBeforePunctuation();

    [System.Text.RegularExpressions.GeneratedRegex(@",([.!?:।])")]
    private static partial System.Text.RegularExpressions.Regex CommaBeforeStop();

    [System.Text.RegularExpressions.GeneratedRegex(@"\s{2,}")]
    private static partial System.Text.RegularExpressions.Regex Spaces();

    private sealed record ScriptFile(string Language, string DefaultVoice, ScriptWords Words, Dictionary<string, VideoTemplate> Videos);

    private sealed record ScriptWords(string Name, string GreetingName, string Voice, string And, bool SerialComma, bool LowerGoals);

    private sealed record VideoTemplate(string Title, IReadOnlyList<SceneTemplate> Scenes);

    private sealed record SceneTemplate(string Headline, string Body, IReadOnlyList<string> Sentences, GoalsVariant? NoGoals);

    private sealed record GoalsVariant(string Body, IReadOnlyList<string> Sentences);
}
