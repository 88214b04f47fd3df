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

/// <summary>A video's script, filled from the profile; the narration, captions and frames all come from it.</summary>
public sealed record VideoScript(string Kind, string Language, string Title, IReadOnlyList<ScriptScene> Scenes)
{
    public IEnumerable<string> Sentences => Scenes.SelectMany(s => s.Sentences);
}

/// <summary>
/// Script templates per video kind and language (English for now; other languages fall back to it). User text is
/// inserted as plain text: it is never interpreted as markup by the frames (drawn as text), the narration (espeak-ng
/// without SSML) or the captions (WebVTT-escaped by <see cref="Captions"/>).
/// </summary>
public static class ScriptTemplates
{
    public static VideoScript Build(string kind, VideoProfile profile, string? voiceDisplayName)
    {
        var name = profile.Name ?? "friend";
        var greetingName = profile.Name ?? "there";
        var goals = profile.Goals.Count == 0 ? null : JoinGoals(profile.Goals);
        var voice = voiceDisplayName ?? "your Sunaiva voice";
        return kind switch
        {
            VideoKinds.Welcome => new VideoScript(kind, "en", $"Welcome, {name}",
            [
                new($"Welcome, {name}", "Your AI companion is ready",
                    [$"Hi {greetingName}, welcome to Sunaiva.", "I'm your AI companion, and this short video shows you around."]),
                new("What you told us", goals is null ? "Whatever you want to do" : Bullet(profile.Goals),
                    goals is null
                        ? ["You can tell me what you want to get done, and I will shape our time around it."]
                        : [$"You told us you want to {goals}.", "Everything you see next is shaped around that."]),
                new("A companion that remembers", "Talk, type, share: one place",
                    ["I remember what matters to you, so every conversation picks up where the last one ended.", "Talk, type, or share files, and it all comes together in one place."]),
                new("Your voice", voice,
                    [$"You chose {voice} as your voice.", "You can change it at any time in settings."]),
                new("Private by design", "Only you can see your memories",
                    ["Your memories are private.", "Only you can see them, and you can delete them whenever you like."]),
                new("Let's begin", "Say hello whenever you are ready",
                    [$"Whenever you are ready, just say hello. I'm glad you are here, {greetingName}."]),
            ]),
            VideoKinds.VoiceTour => new VideoScript(kind, "en", "Talking with Sunaiva",
            [
                new("Talking with Sunaiva", $"A tour for {name}",
                    [$"{greetingName}, let's talk about talking.", "Sunaiva listens and answers out loud, like a real conversation."]),
                new("Tap and speak", "Hold the microphone, or just start talking",
                    ["Tap the microphone and speak naturally.", "You can interrupt me at any moment, and I will stop and listen."]),
                new("Your voice", voice,
                    [$"I will answer with {voice}, the voice you picked.", "There are voices for many languages and accents, and you can switch whenever you like."]),
                new("Made for your goals", goals is null ? "Ask anything" : Bullet(profile.Goals),
                    goals is null
                        ? ["Ask me anything, from planning your day to practising a new language."]
                        : [$"Try asking me about how to {goals}.", "Speaking is often the fastest way to get started."]),
                new("Works everywhere", "Phone, browser, headphones",
                    ["Voice works on your phone and in your browser.", "If the connection is weak, I switch to text so nothing gets lost."]),
                new("Try it now", "Say: hello Sunaiva",
                    ["Give it a try now: say hello, and let's talk."]),
            ]),
            _ => new VideoScript(VideoKinds.MemoryVault, "en", "Your memory vault",
            [
                new("Your memory vault", $"Everything {name} wants to keep",
                    [$"{greetingName}, this is your memory vault.", "It keeps the notes, files, and moments you want me to remember."]),
                new("Add anything", "Notes, documents, photos",
                    ["Upload a document, save a note, or connect your Google Drive.", "I read what you share, so I can find it again when you need it."]),
                new("Ask, and find", "Search by meaning, not by file name",
                    ["Later, just ask.", "I will search your vault by meaning and bring back the right passage."]),
                new("Built around you", goals is null ? "Your plans, your notes" : Bullet(profile.Goals),
                    goals is null
                        ? ["Keep what helps you most, and I will use it to give you better answers."]
                        : [$"Since you want to {goals}, keep what helps with that in your vault.", "I will use it to give you better answers."]),
                new("Private and yours", "Delete anything, anytime",
                    ["Your vault is private.", "Delete a file and it is gone from search and storage."]),
                new("Fill your vault", "Add your first file today",
                    [$"Add your first file today, {greetingName}, and see what your memory can do."]),
            ]),
        };
    }

    private static string JoinGoals(IReadOnlyList<string> goals) => goals.Count switch
    {
        1 => Lower(goals[0]),
        2 => $"{Lower(goals[0])} and {Lower(goals[1])}",
        _ => $"{string.Join(", ", goals.Take(goals.Count - 1).Select(Lower))}, and {Lower(goals[^1])}",
    };

    private static string Bullet(IReadOnlyList<string> goals) => string.Join("  ·  ", goals);

    // "Learn Spanish" reads as "to learn Spanish" in a sentence; a goal that starts with an acronym keeps its case.
    private static string Lower(string goal) =>
        goal.Length > 1 && char.IsUpper(goal[0]) && !char.IsUpper(goal[1]) ? char.ToLowerInvariant(goal[0]) + goal[1..] : goal;
}
