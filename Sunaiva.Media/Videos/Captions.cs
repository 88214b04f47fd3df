using System.Globalization;
using System.Text;

namespace Sunaiva.Media.Videos;

/// <summary>WebVTT captions from the narration's sentence timing; cue text escaped so user text is never read as markup.</summary>
public static class Captions
{
    public static string ToWebVtt(IReadOnlyList<Cue> cues)
    {
        var vtt = new StringBuilder("WEBVTT\n\n");
        for (var i = 0; i < cues.Count; i++)
        {
            vtt.Append(CultureInfo.InvariantCulture, $"{i + 1}\n{Time(cues[i].Start)} --> {Time(cues[i].End)}\n{Escape(cues[i].Text)}\n\n");
        }

        return vtt.ToString();
    }

    public static string Escape(string text) =>
        text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal)
            .Replace("-->", "--&gt;", StringComparison.Ordinal);

    private static string Time(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Max(0, seconds));
        return string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalHours:00}:{t.Minutes:00}:{t.Seconds:00}.{t.Milliseconds:000}");
    }
}
