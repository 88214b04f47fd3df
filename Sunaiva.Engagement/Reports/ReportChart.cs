using System.Globalization;
using SkiaSharp;

namespace Sunaiva.Engagement.Reports;

/// <summary>
/// The report's chart, drawn with SkiaSharp into a PNG: commissions earned per month (bars, clawbacks in red on top of
/// them as the part taken back) for the last six months, the report's month highlighted, amounts in USD above the bars.
/// </summary>
public static class ReportChart
{
    public const int Width = 560;
    public const int Height = 220;

    public static byte[] Png(IReadOnlyList<MonthFigures> months)
    {
        var info = new SKImageInfo(Width, Height, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var surface = SKSurface.Create(info);
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);

        const float left = 16, right = 16, top = 28, bottom = 30;
        var plotHeight = Height - top - bottom;
        var max = Math.Max(1, months.Max(m => Math.Max(m.CommissionsUsd, m.ClawbacksUsd)));
        var slot = (Width - left - right) / Math.Max(1, months.Count);
        var barWidth = slot * 0.6f;

        using var axis = new SKPaint { Color = new SKColor(0xd0, 0xd4, 0xda), StrokeWidth = 1, IsAntialias = true };
        using var bar = new SKPaint { Color = new SKColor(0x5b, 0x4c, 0xdb), IsAntialias = true };
        using var past = new SKPaint { Color = new SKColor(0xb8, 0xb1, 0xf0), IsAntialias = true };
        using var clawback = new SKPaint { Color = new SKColor(0xe0, 0x4f, 0x4f), IsAntialias = true };
        using var text = new SKPaint { Color = new SKColor(0x1f, 0x29, 0x33), IsAntialias = true };
        using var font = new SKFont(SKTypeface.Default, 11);
        using var titleFont = new SKFont(SKTypeface.Default, 13);

        canvas.DrawText("Commissions earned per month (USD)", left, 16, SKTextAlign.Left, titleFont, text);
        canvas.DrawLine(left, top + plotHeight, Width - right, top + plotHeight, axis);
        for (var i = 0; i < months.Count; i++)
        {
            var m = months[i];
            var x = left + (i * slot) + ((slot - barWidth) / 2);
            var h = plotHeight * m.CommissionsUsd / max;
            canvas.DrawRect(x, top + plotHeight - h, barWidth, h, i == months.Count - 1 ? bar : past);
            if (m.ClawbacksUsd > 0)
            {
                var c = plotHeight * m.ClawbacksUsd / max;
                canvas.DrawRect(x + (barWidth * 0.25f), top + plotHeight - c, barWidth * 0.5f, c, clawback);
            }

            var center = x + (barWidth / 2);
            canvas.DrawText((m.CommissionsUsd / 100m).ToString("0", CultureInfo.InvariantCulture), center, top + plotHeight - h - 4, SKTextAlign.Center, font, text);
            canvas.DrawText(InfluencerReport.Start(m.Period).ToString("MMM", CultureInfo.InvariantCulture), center, Height - 12, SKTextAlign.Center, font, text);
        }

        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
