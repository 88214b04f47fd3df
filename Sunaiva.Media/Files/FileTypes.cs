using System.Text;

namespace Sunaiva.Media.Files;

/// <summary>The outcome of looking at a file's first bytes: the type it really is, or why it is refused.</summary>
public sealed record SniffResult(string? ContentType, string? Refusal)
{
    public static SniffResult Accept(string contentType) => new(contentType, null);

    public static SniffResult Refuse(string reason) => new(null, reason);
}

/// <summary>
/// Decides a file's type from its bytes (magic numbers and structure), never from its name or the client's claim alone.
/// The claim only chooses among text formats (plain, Markdown, CSV, JSON) and must agree with binary formats.
/// </summary>
public static class FileTypes
{
    public const string Pdf = "application/pdf";
    public const string Docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    public const string Text = "text/plain";
    public const string Markdown = "text/markdown";
    public const string Csv = "text/csv";
    public const string Json = "application/json";
    public const string Html = "text/html";
    public const string Png = "image/png";
    public const string Jpeg = "image/jpeg";
    public const string Mp3 = "audio/mpeg";
    public const string Wav = "audio/wav";
    public const string M4a = "audio/mp4";

    public static readonly IReadOnlySet<string> Accepted = new HashSet<string>(StringComparer.Ordinal)
    {
        Pdf, Docx, Text, Markdown, Csv, Json, Html, Png, Jpeg, Mp3, Wav, M4a,
    };

    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    private static ReadOnlySpan<byte> JpegSignature => [0xFF, 0xD8, 0xFF];

    private static readonly HashSet<string> TextTypes = [Text, Markdown, Csv, Json, Html];

    /// <summary>Types a browser may show inline; everything else (HTML above all) is served as an attachment.</summary>
    public static bool IsInlineSafe(string contentType) => contentType is Pdf or Text or Png or Jpeg or Mp3 or Wav or M4a;

    public static bool IsText(string contentType) => TextTypes.Contains(contentType);

    public static bool IsAudio(string contentType) => contentType is Mp3 or Wav or M4a;

    public static bool IsImage(string contentType) => contentType is Png or Jpeg;

    /// <summary>
    /// Sniffs <paramref name="head"/> (the first bytes; <paramref name="complete"/> when they are the whole file).
    /// <paramref name="declaredType"/> is the client's claim (may be null), <paramref name="name"/> the file name.
    /// </summary>
    public static SniffResult Sniff(ReadOnlySpan<byte> head, bool complete, string? declaredType, string name)
    {
        var claim = Normalize(declaredType, name);
        var detected = DetectBinary(head, claim);
        if (detected.Refusal is not null)
        {
            return detected;
        }

        if (detected.ContentType is { } binary)
        {
            // A claimed binary type must be what the bytes are ("image/png" that is HTML is refused, not renamed).
            return claim is not null && !TextTypes.Contains(claim) && claim != binary
                ? SniffResult.Refuse($"the content is {binary}, not the declared {claim}")
                : SniffResult.Accept(binary);
        }

        if (!LooksLikeText(head, complete))
        {
            return SniffResult.Refuse("binary content of a type that is not accepted");
        }

        if (claim is not null && !TextTypes.Contains(claim))
        {
            return SniffResult.Refuse($"the content is text, not the declared {claim}");
        }

        var start = Encoding.UTF8.GetString(head[..Math.Min(head.Length, 2048)]).TrimStart('\uFEFF', ' ', '\t', '\r', '\n').ToLowerInvariant();
        if (start.StartsWith("<svg", StringComparison.Ordinal) || (start.StartsWith("<?xml", StringComparison.Ordinal) && start.Contains("<svg", StringComparison.Ordinal)))
        {
            return SniffResult.Refuse("SVG images are not accepted");
        }

        if (start.StartsWith("<!doctype html", StringComparison.Ordinal) || start.StartsWith("<html", StringComparison.Ordinal)
            || start.Contains("<script", StringComparison.Ordinal) || start.Contains("<body", StringComparison.Ordinal) || start.Contains("<iframe", StringComparison.Ordinal))
        {
            // Markup is HTML whatever it is called, so it is never served as something a browser renders inline.
            return SniffResult.Accept(Html);
        }

        if (claim == Json && start.Length > 0 && start[0] is not ('{' or '['))
        {
            return SniffResult.Refuse("the content is not JSON");
        }

        return SniffResult.Accept(claim ?? Text);
    }

    /// <summary>The claimed type, from the declared content type or else the extension; null when neither says.</summary>
    internal static string? Normalize(string? declaredType, string name)
    {
        var type = (declaredType ?? string.Empty).Split(';')[0].Trim().ToLowerInvariant();
        var fromType = type switch
        {
            "" or "application/octet-stream" => null,
            "text/x-markdown" => Markdown,
            "application/csv" or "text/comma-separated-values" => Csv,
            "text/json" => Json,
            "audio/mp3" => Mp3,
            "audio/x-wav" or "audio/wave" or "audio/vnd.wave" => Wav,
            "audio/x-m4a" or "audio/m4a" => M4a,
            "image/jpg" => Jpeg,
            _ => type,
        };
        if (fromType is not null && fromType != Text)
        {
            return fromType;
        }

        var fromExtension = Path.GetExtension(name).ToLowerInvariant() switch
        {
            ".md" or ".markdown" => Markdown,
            ".csv" => Csv,
            ".json" => Json,
            ".html" or ".htm" => Html,
            ".txt" => Text,
            _ => null,
        };
        return fromExtension ?? fromType;
    }

    private static SniffResult DetectBinary(ReadOnlySpan<byte> head, string? claim)
    {
        if (head.StartsWith("%PDF-"u8))
        {
            return SniffResult.Accept(Pdf);
        }

        if (head.StartsWith(PngSignature))
        {
            return SniffResult.Accept(Png);
        }

        if (head.StartsWith(JpegSignature))
        {
            return SniffResult.Accept(Jpeg);
        }

        if (head.StartsWith("PK\u0003\u0004"u8))
        {
            return ZipHasEntry(head, "word/document.xml") ? SniffResult.Accept(Docx) : SniffResult.Refuse("archives other than Word documents (.docx) are not accepted");
        }

        if (head.Length >= 12 && head.StartsWith("RIFF"u8) && head[8..12].SequenceEqual("WAVE"u8))
        {
            return SniffResult.Accept(Wav);
        }

        if (head.StartsWith("ID3"u8) || (head.Length >= 2 && head[0] == 0xFF && (head[1] & 0xE0) == 0xE0 && (head[1] & 0x06) != 0))
        {
            return SniffResult.Accept(Mp3);
        }

        if (head.Length >= 12 && head[4..8].SequenceEqual("ftyp"u8))
        {
            var brand = Encoding.ASCII.GetString(head[8..12]);
            // MP4 containers hold video too: only audio brands, or a generic brand the client declared as audio.
            return brand is "M4A " or "M4B " || (brand is "isom" or "mp42" or "mp41" or "iso2" && claim == M4a)
                ? SniffResult.Accept(M4a)
                : SniffResult.Refuse("MP4 video is not accepted");
        }

        if (head.StartsWith("\u007fELF"u8) || head.StartsWith("MZ"u8) || head.StartsWith("#!"u8))
        {
            return SniffResult.Refuse("executables are not accepted");
        }

        return new SniffResult(null, null);
    }

    /// <summary>Walks the zip's local file headers in <paramref name="head"/> looking for an entry name.</summary>
    internal static bool ZipHasEntry(ReadOnlySpan<byte> head, string entry)
    {
        var wanted = Encoding.ASCII.GetBytes(entry);
        var offset = 0;
        while (offset + 30 <= head.Length && head[offset..].StartsWith("PK\u0003\u0004"u8))
        {
            var flags = BitConverter.ToUInt16(head[(offset + 6)..]);
            var compressed = BitConverter.ToUInt32(head[(offset + 18)..]);
            var nameLength = BitConverter.ToUInt16(head[(offset + 26)..]);
            var extraLength = BitConverter.ToUInt16(head[(offset + 28)..]);
            if (offset + 30 + nameLength > head.Length)
            {
                return false;
            }

            if (head.Slice(offset + 30, nameLength).SequenceEqual(wanted))
            {
                return true;
            }

            if ((flags & 0x08) != 0 && compressed == 0)
            {
                // Sizes follow the data (streamed zip): fall back to finding the name anywhere in the head.
                return head.IndexOf(wanted) >= 0;
            }

            offset += 30 + nameLength + extraLength + (int)compressed;
        }

        return false;
    }

    /// <summary>UTF-8 without NUL or control characters other than tab, newline, carriage return and form feed.</summary>
    internal static bool LooksLikeText(ReadOnlySpan<byte> head, bool complete)
    {
        if (head.Length > 64 * 1024)
        {
            head = head[..(64 * 1024)];
            complete = false;
        }

        if (head.Length == 0)
        {
            return true;
        }

        foreach (var b in head)
        {
            if (b < 0x20 && b is not ((byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0C))
            {
                return false;
            }
        }

        var status = System.Text.Unicode.Utf8.ToUtf16(head, new char[head.Length], out _, out _, replaceInvalidSequences: false, isFinalBlock: complete);
        return status is System.Buffers.OperationStatus.Done || (!complete && status is System.Buffers.OperationStatus.NeedMoreData);
    }
}
