using System.Globalization;
using System.Text;

namespace Sunaiva.Media.Files;

/// <summary>Makes a client's file name safe to store, show and send back in Content-Disposition.</summary>
public static class FileNames
{
    public const int MaxLength = 255;

    /// <summary>
    /// The base name only (either separator), NFC, without control or format characters (bidi overrides that make
    /// "gpj.exe" look like "exe.jpg"), trimmed of dots and spaces; "file" when nothing is left.
    /// </summary>
    public static string Clean(string? fileName)
    {
        var name = (fileName ?? string.Empty).Replace('\\', '/').Split('/').Last().Normalize(NormalizationForm.FormC);
        var clean = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            var category = char.GetUnicodeCategory(c);
            if (category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                continue;
            }

            clean.Append(c is '"' or '<' or '>' or '|' or ':' or '*' or '?' ? '_' : c);
        }

        var result = clean.ToString().Trim().Trim('.').Trim();
        if (result.Length > MaxLength)
        {
            var extension = Path.GetExtension(result);
            result = extension.Length is > 0 and <= 16 ? result[..(MaxLength - extension.Length)] + extension : result[..MaxLength];
        }

        return result.Length == 0 ? "file" : result;
    }

    /// <summary>
    /// What a client may send as a name: a base name that is not empty, "." or "..", without control characters (refused
    /// with 400, as they always were); anything else is sanitized by <see cref="Clean"/>.
    /// </summary>
    public static bool IsAcceptable(string? fileName)
    {
        var name = (fileName ?? string.Empty).Replace('\\', '/').Split('/').Last().Trim();
        return name.Length is > 0 and <= 1024 && name is not ("." or "..") && !Sunaiva.Contracts.InputRules.HasControlCharacters(name);
    }

    /// <summary>The words of a name for the search vector: "q3_report-final.pdf" is "q3 report final pdf".</summary>
    public static string Words(string name) =>
        System.Text.RegularExpressions.Regex.Replace(name, @"[_\.\-]+", " ");
}
