using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using SkiaSharp;
using SkiaSharp.HarfBuzz;

namespace Sunaiva.Media.Videos;

/// <summary>One run of a line: text in one typeface, shaped (glyph ids and positions from the run's start).</summary>
internal sealed record ShapedRun(SKTypeface Typeface, string Text, ushort[] Glyphs, SKPoint[] Points, float Width);

/// <summary>A shaped line: its runs, its width, and the text blob drawn (built on first draw).</summary>
internal sealed class ShapedLine(IReadOnlyList<ShapedRun> runs, float width) : IDisposable
{
    public IReadOnlyList<ShapedRun> Runs { get; } = runs;

    public float Width { get; } = width;

    public SKTextBlob? Blob { get; set; }

    public void Dispose() => Blob?.Dispose();
}

/// <summary>
/// Text for the frames in any script: each character in the style's typeface when it has the glyph, otherwise in an
/// installed typeface that has it (<see cref="SKFontManager.MatchCharacter(string, SKFontStyle, string[], int)"/>: the
/// Noto fonts bootstrap installs for Devanagari, CJK, Arabic...), so names and scripts never show as empty boxes.
/// Each run is shaped by HarfBuzz (Devanagari conjuncts and vowel signs, Arabic joining), and lines are cached with
/// their text blobs: the same headline is drawn on hundreds of frames. One per painter; not thread-safe.
/// </summary>
internal sealed class TextShaper : IDisposable
{
    // Fallback typefaces by (family, weight, character): shared by every render of the process.
    private static readonly ConcurrentDictionary<(string Family, int Weight, int Character), SKTypeface?> Fallbacks = new();

    private readonly Dictionary<SKTypeface, SKShaper> _shapers = [];
    private readonly Dictionary<(string Text, SKFont Font), ShapedLine> _lines = [];
    private readonly Dictionary<(SKTypeface Face, float Size), SKFont> _runFonts = [];

    public ShapedLine Shape(string text, SKFont font)
    {
        if (_lines.TryGetValue((text, font), out var cached))
        {
            return cached;
        }

        var runs = new List<ShapedRun>();
        var x = 0f;
        foreach (var (face, part) in Segment(text, font))
        {
            var runFont = RunFont(face, font);
            var result = Shaper(face).Shape(part, runFont);
            var glyphs = result.Codepoints.Select(g => (ushort)g).ToArray();
            runs.Add(new ShapedRun(face, part, glyphs, result.Points, result.Width));
            x += result.Width;
        }

        var line = new ShapedLine(runs, x);
        _lines[(text, font)] = line;
        return line;
    }

    public float Measure(string text, SKFont font) => Shape(text, font).Width;

    public void Draw(SKCanvas canvas, string text, float x, float y, SKTextAlign align, SKFont font, SKPaint paint)
    {
        var line = Shape(text, font);
        if (line.Runs.Count == 0)
        {
            return;
        }

        line.Blob ??= Build(line, font);
        var left = align switch
        {
            SKTextAlign.Center => x - line.Width / 2,
            SKTextAlign.Right => x - line.Width,
            _ => x,
        };
        if (line.Blob is not null)
        {
            canvas.DrawText(line.Blob, left, y, paint);
        }
    }

    /// <summary>Splits a text into runs of one typeface; marks, joiners and spaces stay with the run they follow.</summary>
    internal static IEnumerable<(SKTypeface Face, string Text)> Segment(string text, SKFont font)
    {
        var primary = font.Typeface;
        var current = primary;
        var rightToLeft = false;
        var run = new StringBuilder();
        foreach (var rune in text.EnumerateRunes())
        {
            var attached = Attached(rune);
            var face = attached ? current : FaceFor(rune.Value, font);
            // A right-to-left word (Arabic, Hebrew) is a run of its own: shaped right to left without turning the rest around.
            var rtl = attached ? rightToLeft : RightToLeft(rune.Value);
            if ((face != current || rtl != rightToLeft) && run.Length > 0)
            {
                foreach (var part in Close(current, run.ToString(), rightToLeft, primary))
                {
                    yield return part;
                }

                run.Clear();
            }

            current = face;
            rightToLeft = rtl;
            run.Append(rune.ToString());
        }

        if (run.Length > 0)
        {
            foreach (var part in Close(current, run.ToString(), rightToLeft, primary))
            {
                yield return part;
            }
        }
    }

    /// <summary>The spaces after a right-to-left run belong to the left-to-right text that follows (else they are drawn on its left).</summary>
    private static IEnumerable<(SKTypeface Face, string Text)> Close(SKTypeface face, string text, bool rightToLeft, SKTypeface primary)
    {
        var trimmed = rightToLeft ? text.TrimEnd() : text;
        if (trimmed.Length > 0)
        {
            yield return (face, trimmed);
        }

        if (trimmed.Length < text.Length)
        {
            yield return (primary, text[trimmed.Length..]);
        }
    }

    /// <summary>The typeface that draws <paramref name="character"/>: the primary one when it has the glyph, else the system's match.</summary>
    internal static SKTypeface FaceFor(int character, SKFont font)
    {
        var primary = font.Typeface;
        if (font.ContainsGlyph(character))
        {
            return primary;
        }

        var style = primary.FontStyle;
        return Fallbacks.GetOrAdd((primary.FamilyName, style.Weight, character), key =>
            SKFontManager.Default.MatchCharacter(key.Family, style, null, key.Character)) ?? primary;
    }

    private static bool RightToLeft(int c) =>
        c is >= 0x0590 and <= 0x08FF or >= 0xFB1D and <= 0xFDFF or >= 0xFE70 and <= 0xFEFF or >= 0x10800 and <= 0x10FFF or >= 0x1E800 and <= 0x1EFFF;

    private static bool Attached(Rune rune) =>
        Rune.IsWhiteSpace(rune) || Rune.GetUnicodeCategory(rune) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.EnclosingMark or UnicodeCategory.Format;

    private SKTextBlob? Build(ShapedLine line, SKFont font)
    {
        using var builder = new SKTextBlobBuilder();
        var x = 0f;
        foreach (var run in line.Runs)
        {
            if (run.Glyphs.Length == 0)
            {
                continue;
            }

            var buffer = builder.AllocatePositionedRun(RunFont(run.Typeface, font), run.Glyphs.Length);
            buffer.SetGlyphs(run.Glyphs);
            buffer.SetPositions(run.Points.Select(p => new SKPoint(p.X + x, p.Y)).ToArray());
            x += run.Width;
        }

        return builder.Build();
    }

    private SKFont RunFont(SKTypeface face, SKFont font)
    {
        if (face == font.Typeface)
        {
            return font;
        }

        if (!_runFonts.TryGetValue((face, font.Size), out var runFont))
        {
            runFont = new SKFont(face, font.Size) { Subpixel = font.Subpixel, Edging = font.Edging };
            _runFonts[(face, font.Size)] = runFont;
        }

        return runFont;
    }

    private SKShaper Shaper(SKTypeface face)
    {
        if (!_shapers.TryGetValue(face, out var shaper))
        {
            shaper = new SKShaper(face);
            _shapers[face] = shaper;
        }

        return shaper;
    }

    public void Dispose()
    {
        foreach (var line in _lines.Values)
        {
            line.Dispose();
        }

        foreach (var shaper in _shapers.Values)
        {
            shaper.Dispose();
        }

        foreach (var font in _runFonts.Values)
        {
            font.Dispose();
        }
    }
}
