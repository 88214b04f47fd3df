using System.Text.RegularExpressions;

namespace Sunaiva.ServiceDefaults.Validation;

/// <summary>
/// Shapes of values that cross service boundaries, checked the same way by the API that takes them and by the
/// events that carry them. Patterns end in \z: $ would accept a trailing newline.
/// </summary>
public static partial class InputRules
{
    /// <summary>A voice id such as <c>en-GB-female-1</c>: a language subtag, then 1 to 4 parts.</summary>
    public static bool IsVoiceId(string? value) => value is { Length: <= 64 } && VoiceId().IsMatch(value);

    /// <summary>A BCP 47 language tag such as <c>en</c>, <c>pt-BR</c> or <c>zh-Hant-TW</c>.</summary>
    public static bool IsLanguageTag(string? value) => value is { Length: <= 35 } && LanguageTag().IsMatch(value);

    /// <summary>An ISO 3166-1 alpha-2 country code.</summary>
    public static bool IsCountry(string? value) => value is not null && Country().IsMatch(value);

    /// <summary>A referral code: 3 to 32 letters, digits, dashes or underscores.</summary>
    public static bool IsReferralCode(string? value) => value is not null && ReferralCode().IsMatch(value);

    public static bool IsEmail(string? value) => value is { Length: <= 254 } && !HasControlCharacters(value) && Email().IsMatch(value);

    /// <summary>
    /// Control characters (newlines, escapes, NUL) and invisible formatting characters (right-to-left override,
    /// zero-width space, byte-order mark) have no place in names, subjects or identifiers.
    /// </summary>
    public static bool HasControlCharacters(string value) =>
        value.Any(c => char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format);

    /// <summary>Printable ASCII without commas (a comma means two header values were joined).</summary>
    public static bool IsOpaqueKey(string? value) => value is { Length: > 0 and <= 200 } && value.All(c => c is >= '!' and <= '~' and not ',');

    /// <summary>The language of a voice: <c>en-GB-female-1</c> speaks <c>en-GB</c>, <c>de-male-2</c> speaks <c>de</c>.</summary>
    public static string LanguageOfVoice(string voiceId)
    {
        var parts = voiceId.Split('-');
        return parts.Length > 1 && parts[1].Length == 2 && parts[1].All(char.IsAsciiLetterUpper) ? $"{parts[0]}-{parts[1]}" : parts[0];
    }

    [GeneratedRegex(@"^[a-z]{2,3}(-[A-Za-z0-9]{1,16}){1,4}\z")]
    private static partial Regex VoiceId();

    [GeneratedRegex(@"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}\z")]
    private static partial Regex LanguageTag();

    [GeneratedRegex(@"^[A-Za-z]{2}\z")]
    private static partial Regex Country();

    [GeneratedRegex(@"^[A-Za-z0-9_-]{3,32}\z")]
    private static partial Regex ReferralCode();

    [GeneratedRegex(@"^[^@\s\[\]]+@[^@\s\[\]]+\.[^@\s\[\]]+\z")]
    private static partial Regex Email();
}
