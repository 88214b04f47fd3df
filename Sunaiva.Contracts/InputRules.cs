using System.Text.RegularExpressions;

namespace Sunaiva.Contracts;

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

    public static bool IsEmail(string? value) => TryNormalizeEmail(value, out _);

    /// <summary>
    /// An address MimeKit's strict parser (the parser of the mail we send) reads back exactly as typed: a bare
    /// addr-spec with a dotted domain, no comments, display names, routes, quoting or trailing dot. The normalized
    /// form (domain in lower case) is what to store and mail to.
    /// </summary>
    public static bool TryNormalizeEmail(string? value, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? normalized)
    {
        normalized = null;
        if (value is not { Length: > 0 and <= 254 } || HasControlCharacters(value) || !Email().IsMatch(value)
            || !MimeKit.MailboxAddress.TryParse(StrictAddresses, value, out var mailbox)
            || !string.IsNullOrEmpty(mailbox.Name) || mailbox.Route.Count > 0)
        {
            return false;
        }

        var at = mailbox.Address.LastIndexOf('@');
        if (at <= 0 || mailbox.LocalPart.StartsWith('"'))
        {
            return false;
        }

        var candidate = string.Concat(mailbox.Address.AsSpan(0, at + 1), mailbox.Domain.ToLowerInvariant());
        // What the parser dropped (a comment, a trailing dot) would be mailed differently from what was typed.
        if (!string.Equals(candidate, string.Concat(value.AsSpan(0, value.LastIndexOf('@') + 1), value[(value.LastIndexOf('@') + 1)..].ToLowerInvariant()), StringComparison.Ordinal))
        {
            return false;
        }

        normalized = candidate;
        return true;
    }

    private static readonly MimeKit.ParserOptions StrictAddresses = new()
    {
        AddressParserComplianceMode = MimeKit.RfcComplianceMode.Strict,
        AllowAddressesWithoutDomain = false,
        AllowUnquotedCommasInAddresses = false,
        Rfc2047ComplianceMode = MimeKit.RfcComplianceMode.Strict,
    };

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
