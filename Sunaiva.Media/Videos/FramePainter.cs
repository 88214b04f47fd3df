using SkiaSharp;

namespace Sunaiva.Media.Videos;

/// <summary>
/// Draws one 1280x720 frame of a video at a moment of its timeline: the style's background and moving shapes, the
/// current scene's headline and body entering with the style's motion, scene progress, and burned-in captions when
/// the video has no speech. One painter per render (it caches typefaces and paints); not thread-safe.
/// </summary>
public sealed class FramePainter : IDisposable
{
    public const int Width = 1280;
    public const int Height = 720;

    private static readonly string[] FontFolders = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF", "/usr/share/fonts/dejavu"];
    private readonly VideoStyle _style;
    private readonly VideoScript _script;
    private readonly IReadOnlyList<Cue> _cues;
    private readonly double[] _sceneStarts;
    private readonly double _duration;
    private readonly bool _burnCaptions;
    private readonly SKTypeface _headlineFace;
    private readonly SKTypeface _bodyFace;
    private readonly SKFont _headline;
    private readonly SKFont _body;
    private readonly SKFont _caption;
    private readonly SKFont _brand;
    private readonly SKPaint _paint = new() { IsAntialias = true };
    private readonly TextShaper _text = new();
    // Opaque paint of the gradients: _paint keeps the alpha of the last text or shape drawn, and a shader drawn with it
    // is that transparent (the previous frame showed through, moving shapes left trails).
    private readonly SKPaint _stripPaint = new() { IsAntialias = true };
    private SKBitmap? _strip;
    private SKCanvas? _stripCanvas;
    private SKBitmap? _frame;

    public FramePainter(VideoStyle style, VideoScript script, IReadOnlyList<Cue> cues, double duration, bool burnCaptions)
    {
        _style = style;
        _script = script;
        _cues = cues;
        _duration = duration;
        _burnCaptions = burnCaptions;
        _sceneStarts = new double[script.Scenes.Count];
        for (var s = 0; s < script.Scenes.Count; s++)
        {
            var first = cues.FirstOrDefault(c => c.Scene == s);
            _sceneStarts[s] = s == 0 ? 0 : first is null ? _sceneStarts[s - 1] : Math.Max(_sceneStarts[s - 1], first.Start - 0.3);
        }

        _headlineFace = LoadFace(style.HeadlineFont, SKFontStyle.Bold);
        _bodyFace = LoadFace(style.BodyFont, SKFontStyle.Normal);
        _headline = new SKFont(_headlineFace, style.HeadlineSize) { Subpixel = true, Edging = SKFontEdging.Antialias };
        _body = new SKFont(_bodyFace, 34) { Subpixel = true, Edging = SKFontEdging.Antialias };
        _caption = new SKFont(_bodyFace, 30) { Edging = SKFontEdging.Antialias };
        _brand = new SKFont(_headlineFace, 24) { Edging = SKFontEdging.Antialias };
    }

    /// <summary>The scene on screen at <paramref name="t"/> and the time since it began.</summary>
    public (int Scene, double Since) SceneAt(double t)
    {
        var scene = 0;
        while (scene + 1 < _sceneStarts.Length && t >= _sceneStarts[scene + 1])
        {
            scene++;
        }

        return (scene, t - _sceneStarts[scene]);
    }

    /// <summary>
    /// Paints the frame at <paramref name="t"/> into <paramref name="frame"/> (an RGBA bitmap of the frame size) through
    /// <paramref name="canvas"/> drawing on it: with the pixels at hand, the background gradient is copied row by row.
    /// </summary>
    public void Paint(SKBitmap frame, SKCanvas canvas, double t)
    {
        _frame = frame;
        try
        {
            Paint(canvas, t);
        }
        finally
        {
            _frame = null;
        }
    }

    public void Paint(SKCanvas canvas, double t)
    {
        var (sceneIndex, since) = SceneAt(t);
        var scene = _script.Scenes[sceneIndex];
        DrawBackground(canvas, t);
        var enter = Ease(Math.Clamp(since / 0.8, 0, 1));
        var fadeOut = sceneIndex + 1 < _sceneStarts.Length ? Math.Clamp((_sceneStarts[sceneIndex + 1] - t) / 0.4, 0, 1) : 1;
        var alpha = (byte)(255 * Math.Min(enter, fadeOut));

        canvas.Save();
        switch (_style.Motion)
        {
            case SceneMotion.SlideUp:
                canvas.Translate(0, (float)((1 - enter) * 80));
                break;
            case SceneMotion.Pop:
                var pop = 0.6 + 0.4 * Back(Math.Clamp(since / 0.5, 0, 1));
                canvas.Scale((float)pop, (float)pop, Width / 2f, Height / 2f);
                break;
            case SceneMotion.Fade:
                canvas.Translate((float)((1 - enter) * -30), 0);
                break;
        }

        if (_style.Id == "playful")
        {
            _paint.Color = SKColors.White.WithAlpha((byte)(alpha * 0.85));
            canvas.DrawRoundRect(new SKRect(140, 170, Width - 140, 520), 40, 40, _paint);
        }

        var x = _style.Centered ? Width / 2f : 120f;
        var align = _style.Centered ? SKTextAlign.Center : SKTextAlign.Left;
        var maxWidth = _style.Centered ? Width - 320f : Width - 240f;
        _paint.Color = _style.Text.WithAlpha(alpha);
        var y = DrawWrapped(canvas, scene.Headline, _headline, x, _style.Centered ? 300 : 280, maxWidth, align, 2);
        _paint.Color = _style.Accent.WithAlpha(alpha);
        if (!_style.Centered)
        {
            canvas.DrawRect(new SKRect(120, y - 10, 120 + (float)(180 * enter), y - 4), _paint);
        }

        _paint.Color = (_style.Id == "minimal" ? _style.Accent : _style.Text).WithAlpha((byte)(alpha * 0.85));
        DrawWrapped(canvas, scene.Body, _body, x, y + 50, maxWidth, align, 3);
        canvas.Restore();

        DrawChrome(canvas, t, sceneIndex);
        if (_burnCaptions)
        {
            DrawCaption(canvas, t);
        }
    }

    /// <summary>One frame as an encoded image (poster, style preview).</summary>
    public byte[] Still(double t, SKEncodedImageFormat format, int quality)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul));
        using (var canvas = new SKCanvas(bitmap))
        {
            Paint(bitmap, canvas, t);
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(format, quality);
        return data.ToArray();
    }

    private void DrawBackground(SKCanvas canvas, double t)
    {
        var phase = (float)(t / Math.Max(_duration, 1));
        switch (_style.Motion)
        {
            case SceneMotion.KenBurns:
            {
                canvas.Clear(_style.Background);
                // Slow zoom and drift of a warm light over the dark frame.
                var zoom = 1f + 0.25f * phase;
                var center = new SKPoint(Width * (0.35f + 0.3f * phase), Height * 0.45f);
                using var shader = SKShader.CreateRadialGradient(center, 700 * zoom, [_style.BackgroundAccent, _style.Background], SKShaderTileMode.Clamp);
                // Opaque: the shared paint otherwise keeps the alpha of the last thing drawn, and the light's strength
                // depended on what the previous frame drew last.
                _paint.Color = SKColors.Black;
                _paint.Shader = shader;
                DrawMirrored(canvas, (int)center.Y);
                _paint.Shader = null;
                break;
            }

            case SceneMotion.SlideUp:
            {
                var shift = (float)(Math.Sin(t * 0.4) * 200);
                DrawDiagonalGradient(canvas, shift);
                for (var i = 0; i < 5; i++)
                {
                    var a = t * (0.3 + i * 0.07) + i * 1.3;
                    _paint.Color = _style.Accent.WithAlpha(60);
                    canvas.DrawCircle((float)(Width / 2 + Math.Cos(a) * (420 + i * 40)), (float)(Height / 2 + Math.Sin(a * 1.3) * 260), 40 + i * 18, _paint);
                }

                break;
            }

            case SceneMotion.Pop:
            {
                canvas.Clear(_style.Background);
                _paint.Color = _style.BackgroundAccent;
                canvas.DrawCircle(Width * 0.1f, Height * 0.15f, 180, _paint);
                canvas.DrawCircle(Width * 0.92f, Height * 0.9f, 220, _paint);
                for (var i = 0; i < 7; i++)
                {
                    var bounce = Math.Abs(Math.Sin(t * 2.2 + i * 0.9)) * 40;
                    _paint.Color = (i % 2 == 0 ? _style.Accent : _style.Text).WithAlpha(200);
                    canvas.DrawCircle(Width / 2f - 180 + i * 60, (float)(620 - bounce), 12, _paint);
                }

                break;
            }

            default:
                canvas.Clear(_style.Background);
                _paint.Color = _style.BackgroundAccent;
                canvas.DrawRect(new SKRect(Width - 360 + (float)(phase * 60), 0, Width, Height), _paint);
                break;
        }

        if (_style.Letterbox)
        {
            _paint.Color = SKColors.Black;
            canvas.DrawRect(0, 0, Width, 70, _paint);
            canvas.DrawRect(0, Height - 70, Width, 70, _paint);
        }
    }

    /// <summary>
    /// The linear gradient from (shift, 0) to (Width - shift, Height) over the whole frame. Its colour depends only on
    /// x + y * slope, so each row is the same strip of colours moved left by y * slope: the strip is shaded once (one
    /// row) and copied into the 720 rows, where shading every pixel of the frame cost most of the painting time. Rounding
    /// the move to whole pixels changes a colour by under 0.2 of a level (the gradient spans over 800 pixels).
    /// </summary>
    private void DrawDiagonalGradient(SKCanvas canvas, float shift)
    {
        if (_frame is not { ColorType: SKColorType.Rgba8888, Width: Width, Height: Height } frame)
        {
            using var full = SKShader.CreateLinearGradient(new SKPoint(shift, 0), new SKPoint(Width - shift, Height), [_style.Background, _style.BackgroundAccent], SKShaderTileMode.Clamp);
            _stripPaint.Shader = full;
            canvas.DrawRect(0, 0, Width, Height, _stripPaint);
            _stripPaint.Shader = null;
            return;
        }

        var slope = Height / (double)(Width - 2 * shift);
        var stripWidth = Width + (int)Math.Ceiling(Height * slope) + 2;
        if (_strip is null || _strip.Width < stripWidth)
        {
            _strip?.Dispose();
            _strip = new SKBitmap(new SKImageInfo(stripWidth, 1, SKColorType.Rgba8888, SKAlphaType.Premul));
            _stripCanvas?.Dispose();
            _stripCanvas = new SKCanvas(_strip);
        }

        // Strip pixel i is shaded at (i + 0.5, 0.5), the colour of frame pixel (i - y * slope, y).
        using (var shader = SKShader.CreateLinearGradient(new SKPoint(shift, 0), new SKPoint(Width - shift, Height), [_style.Background, _style.BackgroundAccent], SKShaderTileMode.Clamp))
        {
            _stripPaint.Shader = shader;
            _stripCanvas!.DrawRect(0, 0, _strip.Width, 1, _stripPaint);
            _stripPaint.Shader = null;
        }

        _stripCanvas.Flush();
        var strip = _strip.GetPixelSpan();
        var pixels = frame.GetPixelSpan();
        var rowBytes = frame.RowBytes;
        for (var y = 0; y < Height; y++)
        {
            var offset = (int)Math.Round(y * slope);
            strip.Slice(offset * 4, Width * 4).CopyTo(pixels.Slice(y * rowBytes, Width * 4));
        }
    }

    /// <summary>
    /// Fills the frame with <see cref="_paint"/>'s radial shader centred on row boundary <paramref name="axis"/>: the
    /// light is symmetric there (row axis + k is row axis - 1 - k, to the bit), so the rows below the axis are copied
    /// from those above it instead of shaded again, and rows under the letterbox bars are not shaded at all.
    /// </summary>
    private void DrawMirrored(SKCanvas canvas, int axis)
    {
        var top = _style.Letterbox ? 70 : 0;
        var bottom = _style.Letterbox ? Height - 70 : Height;
        if (_frame is not { ColorType: SKColorType.Rgba8888, Width: Width, Height: Height } frame || axis <= top || 2 * axis - top > bottom)
        {
            canvas.DrawRect(0, 0, Width, Height, _paint);
            return;
        }

        canvas.DrawRect(0, top, Width, axis - top, _paint);
        canvas.DrawRect(0, 2 * axis - top, Width, bottom - (2 * axis - top), _paint);
        var pixels = frame.GetPixelSpan();
        var rowBytes = frame.RowBytes;
        for (var y = axis; y < 2 * axis - top; y++)
        {
            pixels.Slice((2 * axis - 1 - y) * rowBytes, Width * 4).CopyTo(pixels.Slice(y * rowBytes, Width * 4));
        }
    }

    private void DrawChrome(SKCanvas canvas, double t, int sceneIndex)
    {
        var top = _style.Letterbox ? 100f : 60f;
        _paint.Color = _style.Text.WithAlpha(180);
        _text.Draw(canvas, "Sunaiva", _style.Centered ? Width / 2f : 120f, top, _style.Centered ? SKTextAlign.Center : SKTextAlign.Left, _brand, _paint);
        // Scene dots and a thin progress line.
        var count = _script.Scenes.Count;
        var bottom = _style.Letterbox ? Height - 95f : Height - 40f;
        for (var i = 0; i < count; i++)
        {
            _paint.Color = (i == sceneIndex ? _style.Accent : _style.Text.WithAlpha(70));
            canvas.DrawCircle(Width / 2f + (i - (count - 1) / 2f) * 26, bottom, i == sceneIndex ? 7 : 5, _paint);
        }

        _paint.Color = _style.Accent.WithAlpha(160);
        canvas.DrawRect(0, _style.Letterbox ? Height - 72f : Height - 6f, (float)(Width * Math.Clamp(t / _duration, 0, 1)), 4, _paint);
    }

    private void DrawCaption(SKCanvas canvas, double t)
    {
        var cue = _cues.FirstOrDefault(c => t >= c.Start && t < c.End + 0.3);
        if (cue is null)
        {
            return;
        }

        var lines = Wrap(cue.Text, _caption, Width - 300f, 2);
        var height = lines.Count * 40 + 24;
        var top = Height - (_style.Letterbox ? 100f : 90f) - height;
        _paint.Color = SKColors.Black.WithAlpha(190);
        canvas.DrawRoundRect(new SKRect(130, top, Width - 130, top + height), 12, 12, _paint);
        _paint.Color = SKColors.White;
        for (var i = 0; i < lines.Count; i++)
        {
            _text.Draw(canvas, lines[i], Width / 2f, top + 44 + i * 40, SKTextAlign.Center, _caption, _paint);
        }
    }

    private float DrawWrapped(SKCanvas canvas, string text, SKFont font, float x, float y, float maxWidth, SKTextAlign align, int maxLines)
    {
        var lineHeight = font.Size * 1.25f;
        foreach (var line in Wrap(text, font, maxWidth, maxLines))
        {
            _text.Draw(canvas, line, x, y, align, font, _paint);
            y += lineHeight;
        }

        return y;
    }

    /// <summary>The runs (typeface, glyphs) a text is drawn with in the headline, body or caption font: no glyph 0 (.notdef, a box) when the fonts cover it.</summary>
    internal IReadOnlyList<ShapedRun> Shaped(string text, string role = "headline") =>
        _text.Shape(text, role switch { "body" => _body, "caption" => _caption, _ => _headline }).Runs;

    internal List<string> Wrap(string text, SKFont font, float maxWidth, int maxLines)
    {
        var lines = new List<string>();
        var current = string.Empty;
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = current.Length == 0 ? word : $"{current} {word}";
            if (_text.Measure(candidate, font) <= maxWidth || current.Length == 0)
            {
                current = candidate;
                continue;
            }

            lines.Add(current);
            current = word;
            if (lines.Count == maxLines)
            {
                break;
            }
        }

        if (lines.Count < maxLines && current.Length > 0)
        {
            lines.Add(current);
        }
        else if (lines.Count == maxLines && current.Length > 0)
        {
            lines[^1] = lines[^1].TrimEnd('.', ',') + "…";
        }

        // A single very long word is cut to the width.
        for (var i = 0; i < lines.Count; i++)
        {
            while (lines[i].Length > 1 && _text.Measure(lines[i], font) > maxWidth)
            {
                lines[i] = lines[i][..^2] + "…";
            }
        }

        return lines;
    }

    private static SKTypeface LoadFace(string file, SKFontStyle style)
    {
        foreach (var folder in FontFolders)
        {
            var path = Path.Combine(folder, file);
            if (File.Exists(path) && SKTypeface.FromFile(path) is { } face)
            {
                return face;
            }
        }

        return SKFontManager.Default.MatchFamily("DejaVu Sans", style) ?? SKTypeface.Default;
    }

    private static double Ease(double x) => 1 - Math.Pow(1 - x, 3);

    private static double Back(double x)
    {
        const double c1 = 1.70158;
        const double c3 = c1 + 1;
        return 1 + c3 * Math.Pow(x - 1, 3) + c1 * Math.Pow(x - 1, 2);
    }

    public void Dispose()
    {
        _text.Dispose();
        _paint.Dispose();
        _stripCanvas?.Dispose();
        _strip?.Dispose();
        _stripPaint.Dispose();
        _headline.Dispose();
        _body.Dispose();
        _caption.Dispose();
        _brand.Dispose();
        _headlineFace.Dispose();
        _bodyFace.Dispose();
    }
}
