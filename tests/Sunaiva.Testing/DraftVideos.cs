namespace Sunaiva.Testing;

/// <summary>
/// Draft renders for tests that are about what happens around the renderer, not its output (Media's OnboardingVideoTests
/// judges that at the default settings): 2 frames a second, ffmpeg's ultrafast preset, and unless <c>voice</c>, narration by
/// espeak-ng rather than the Voice service (which the test would otherwise have to run).
/// </summary>
public static class DraftVideos
{
    public static Dictionary<string, string?> Settings(bool voice = false)
    {
        var values = new Dictionary<string, string?>();
        AddTo(values, voice);
        return values;
    }

    public static void AddTo(IDictionary<string, string?> values, bool voice = false)
    {
        values["Videos:FramesPerSecond"] = "2";
        values["Videos:Preset"] = "ultrafast";
        if (!voice)
        {
            values["Videos:VoiceTtsEnabled"] = "false";
        }
    }
}
