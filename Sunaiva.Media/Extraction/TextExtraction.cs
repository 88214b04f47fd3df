using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Wordprocessing;
using Microsoft.Extensions.Options;
using Sunaiva.Media.Files;
using UglyToad.PdfPig;
using UglyToad.PdfPig.DocumentLayoutAnalysis.TextExtractor;

namespace Sunaiva.Media.Extraction;

/// <summary>
/// What extraction found: <c>Status</c> indexed (text found), none (nothing to read: an image, an empty file),
/// awaiting_transcription (audio with no transcriber yet) or failed; <c>Metadata</c> such as image dimensions.
/// </summary>
public sealed record Extracted(string Status, string Body, string Headings, bool Truncated, IReadOnlyDictionary<string, object>? Metadata = null, string? Failure = null)
{
    public static Extracted Failed(string why) => new("failed", string.Empty, string.Empty, false, null, why);
}

/// <summary>
/// Turns a file (a seekable local copy) into text, bounded per file: characters kept, PDF pages read, a .docx's total
/// uncompressed size (a decompression bomb is refused before it is inflated), and the caller's cancellation (timeout).
/// </summary>
public sealed partial class TextExtraction(IOptions<FileVaultOptions> options, IAudioTranscriber? transcriber = null)
{
    public async Task<Extracted> ExtractAsync(Stream file, string contentType, CancellationToken ct)
    {
        var o = options.Value;
        return contentType switch
        {
            FileTypes.Pdf => Pdf(file, o, ct),
            FileTypes.Docx => Docx(file, o, ct),
            FileTypes.Html => Html(await ReadTextAsync(file, o.MaxExtractedChars * 2, ct), o.MaxExtractedChars),
            FileTypes.Markdown => Markdown(await ReadTextAsync(file, o.MaxExtractedChars, ct), o.MaxExtractedChars),
            FileTypes.Text or FileTypes.Csv or FileTypes.Json => Plain(await ReadTextAsync(file, o.MaxExtractedChars, ct), o.MaxExtractedChars),
            FileTypes.Png or FileTypes.Jpeg => Image(file, contentType),
            _ when FileTypes.IsAudio(contentType) => transcriber is null
                ? new Extracted("awaiting_transcription", string.Empty, string.Empty, false)
                : Plain(((await transcriber.TranscribeAsync(file, contentType, ct)) ?? string.Empty, false), o.MaxExtractedChars),
            _ => new Extracted("none", string.Empty, string.Empty, false),
        };
    }

    private static async Task<(string Text, bool Truncated)> ReadTextAsync(Stream file, int maxChars, CancellationToken ct)
    {
        using var reader = new StreamReader(file, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 64 * 1024, leaveOpen: true);
        var buffer = new char[Math.Min(maxChars + 1, 1 << 20)];
        var text = new StringBuilder();
        int read;
        while (text.Length <= maxChars && (read = await reader.ReadAsync(buffer.AsMemory(0, Math.Min(buffer.Length, maxChars + 1 - text.Length)), ct)) > 0)
        {
            text.Append(buffer, 0, read);
        }

        var truncated = text.Length > maxChars;
        return (truncated ? text.ToString(0, maxChars) : text.ToString(), truncated);
    }

    /// <summary>An audio file's transcript as its text (kept to <paramref name="maxChars"/>).</summary>
    public static Extracted FromTranscript(string text, int maxChars) =>
        Plain(text.Length > maxChars ? (text[..maxChars], true) : (text, false), maxChars);

    private static Extracted Plain((string Text, bool Truncated) input, int maxChars)
    {
        var text = input.Text.Length > maxChars ? input.Text[..maxChars] : input.Text;
        return new Extracted(string.IsNullOrWhiteSpace(text) ? "none" : "indexed", text, string.Empty, input.Truncated || input.Text.Length > maxChars);
    }

    private static Extracted Markdown((string Text, bool Truncated) input, int maxChars)
    {
        var headings = string.Join('\n', input.Text.Split('\n').Where(l => l.TrimStart().StartsWith('#')).Select(l => l.Trim().TrimStart('#').Trim()));
        return Plain(input, maxChars) with { Headings = headings };
    }

    private static Extracted Html((string Text, bool Truncated) input, int maxChars)
    {
        var html = input.Text;
        var headings = string.Join('\n', HeadingTags().Matches(html).Select(m => Decode(TagPattern().Replace(m.Groups[2].Value, " "))));
        var body = Decode(TagPattern().Replace(ScriptOrStyle().Replace(html, " "), " "));
        return Plain((body, input.Truncated), maxChars) with { Headings = headings };
    }

    private static string Decode(string text) => WhiteSpace().Replace(WebUtility.HtmlDecode(text), " ").Trim();

    private static Extracted Pdf(Stream file, FileVaultOptions o, CancellationToken ct)
    {
        using var document = PdfDocument.Open(file, new ParsingOptions { UseLenientParsing = true, SkipMissingFonts = true });
        var text = new StringBuilder();
        var pages = Math.Min(document.NumberOfPages, o.MaxPdfPages);
        var truncated = document.NumberOfPages > pages;
        for (var number = 1; number <= pages; number++)
        {
            ct.ThrowIfCancellationRequested();
            text.Append(ContentOrderTextExtractor.GetText(document.GetPage(number))).Append('\n');
            if (text.Length > o.MaxExtractedChars)
            {
                truncated = true;
                break;
            }
        }

        var title = document.Information?.Title ?? string.Empty;
        var result = Plain((text.ToString(), truncated), o.MaxExtractedChars) with { Headings = title };
        return result with { Metadata = new Dictionary<string, object> { ["pages"] = document.NumberOfPages } };
    }

    private static Extracted Docx(Stream file, FileVaultOptions o, CancellationToken ct)
    {
        // Refuse a decompression bomb from the zip directory's declared sizes, before anything is inflated.
        using (var zip = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true))
        {
            long total = 0;
            foreach (var entry in zip.Entries)
            {
                total += entry.Length;
                if (total > o.MaxDocxUncompressedBytes || (entry.CompressedLength > 0 && entry.Length / entry.CompressedLength > 200 && entry.Length > 1024 * 1024))
                {
                    return Extracted.Failed("the document expands to more than the allowed size");
                }
            }
        }

        file.Position = 0;
        using var document = WordprocessingDocument.Open(file, false, new OpenSettings { MaxCharactersInPart = Math.Min(o.MaxDocxUncompressedBytes, int.MaxValue) });
        var body = document.MainDocumentPart?.Document?.Body;
        if (body is null)
        {
            return new Extracted("none", string.Empty, string.Empty, false);
        }

        var text = new StringBuilder();
        var headings = new StringBuilder();
        var truncated = false;
        foreach (var paragraph in body.Descendants<Paragraph>())
        {
            ct.ThrowIfCancellationRequested();
            var line = paragraph.InnerText;
            var style = paragraph.ParagraphProperties?.ParagraphStyleId?.Val?.Value ?? string.Empty;
            if (style.StartsWith("Heading", StringComparison.OrdinalIgnoreCase) || style.Equals("Title", StringComparison.OrdinalIgnoreCase))
            {
                headings.Append(line).Append('\n');
            }

            text.Append(line).Append('\n');
            if (text.Length > o.MaxExtractedChars)
            {
                truncated = true;
                break;
            }
        }

        return Plain((text.ToString(), truncated), o.MaxExtractedChars) with { Headings = headings.ToString() };
    }

    /// <summary>How much of an image is read for its dimensions (ExtractWork downloads only this range).</summary>
    public const int ImageHeaderBytes = 256 * 1024;

    /// <summary>Dimensions from the PNG header or the JPEG frame header; images have no text.</summary>
    private static Extracted Image(Stream file, string contentType)
    {
        var head = new byte[Math.Min(file.Length, ImageHeaderBytes)];
        file.ReadExactly(head);
        return ImageOf(head, contentType);
    }

    /// <summary>
    /// What extraction finds in a PNG or JPEG, from the bytes an upload already holds: its first
    /// <paramref name="head"/> bytes (all of it when <paramref name="wholeFile"/>). Null for another type, or when they are
    /// fewer than extraction reads (<see cref="ImageHeaderBytes"/>): then the file is extracted as any other.
    /// </summary>
    public static Extracted? ImageFromHead(ReadOnlySpan<byte> head, bool wholeFile, string contentType) =>
        contentType is FileTypes.Png or FileTypes.Jpeg && (wholeFile || head.Length >= ImageHeaderBytes)
            ? ImageOf(head[..Math.Min(head.Length, ImageHeaderBytes)], contentType)
            : null;

    private static Extracted ImageOf(ReadOnlySpan<byte> head, string contentType)
    {
        var size = contentType == FileTypes.Png ? PngSize(head) : JpegSize(head);
        var metadata = size is { } s ? new Dictionary<string, object> { ["width"] = s.Width, ["height"] = s.Height } : null;
        return new Extracted("none", string.Empty, string.Empty, false, metadata);
    }

    internal static (int Width, int Height)? PngSize(ReadOnlySpan<byte> head) =>
        head.Length >= 24 && head[12..16].SequenceEqual("IHDR"u8)
            ? ((int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(head[16..]), (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(head[20..]))
            : null;

    internal static (int Width, int Height)? JpegSize(ReadOnlySpan<byte> head)
    {
        var i = 2;
        while (i + 9 < head.Length && head[i] == 0xFF)
        {
            var marker = head[i + 1];
            var length = (head[i + 2] << 8) | head[i + 3];
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                return ((head[i + 7] << 8) | head[i + 8], (head[i + 5] << 8) | head[i + 6]);
            }

            i += 2 + length;
        }

        return null;
    }

    [GeneratedRegex(@"<(script|style|noscript)\b[^>]*>.*?</\1\s*>", RegexOptions.IgnoreCase | RegexOptions.Singleline, matchTimeoutMilliseconds: 5000)]
    private static partial Regex ScriptOrStyle();

    [GeneratedRegex(@"<[^>]*>", RegexOptions.None, matchTimeoutMilliseconds: 5000)]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"<(h[1-3]|title)\b[^>]*>(.*?)</\1\s*>", RegexOptions.IgnoreCase | RegexOptions.Singleline, matchTimeoutMilliseconds: 5000)]
    private static partial Regex HeadingTags();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();
}

/// <summary>
/// The hook for audio: when a transcriber is registered (Voice's local speech engine, later), audio files get their
/// transcript as text; until then they stay <c>awaiting_transcription</c> and nothing false is stored.
/// </summary>
public interface IAudioTranscriber
{
    Task<string?> TranscribeAsync(Stream audio, string contentType, CancellationToken cancellationToken);
}
