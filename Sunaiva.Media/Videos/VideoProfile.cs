using System.Globalization;
using System.Text;

namespace Sunaiva.Media.Videos;

/// <summary>What a user told us at signup, as the video scripts use it: bounded, without control characters.</summary>
public sealed record VideoProfile(string? Name, IReadOnlyList<string> Goals, string Language, string? Voice)
{
    public const int MaxNameLength = 40;
    public const int MaxGoalLength = 60;
    public const int MaxGoals = 3;

    /// <summary>Cleans what an event or a request carried: control and formatting characters removed, whitespace collapsed, lengths bounded.</summary>
    public static VideoProfile From(string? name, IEnumerable<string>? goals, string? language, string? voice) => new(
        Clean(name, MaxNameLength),
        (goals ?? []).Select(g => Clean(g, MaxGoalLength)).OfType<string>().Distinct(StringComparer.OrdinalIgnoreCase).Take(MaxGoals).ToList(),
        Sunaiva.Contracts.InputRules.IsLanguageTag(language) ? language! : "en",
        Sunaiva.Contracts.InputRules.IsVoiceId(voice) ? voice : null);

    /// <summary>Strips control and invisible formatting characters, collapses whitespace, cuts at a word boundary.</summary>
    public static string? Clean(string? value, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var builder = new StringBuilder(Math.Min(value.Length, maxLength * 2));
        var lastSpace = true;
        foreach (var c in value)
        {
            var category = char.GetUnicodeCategory(c);
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                if (!lastSpace)
                {
                    builder.Append(' ');
                    lastSpace = true;
                }

                continue;
            }

            if (category is UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned)
            {
                continue;
            }

            builder.Append(c);
            lastSpace = false;
            if (builder.Length > maxLength * 2)
            {
                break;
            }
        }

        var text = builder.ToString().Trim();
        if (text.Length > maxLength)
        {
            var cut = text.LastIndexOf(' ', maxLength);
            text = (cut > maxLength / 2 ? text[..cut] : text[..maxLength]).TrimEnd() + "…";
        }

        return text.Length == 0 ? null : text;
    }
}
