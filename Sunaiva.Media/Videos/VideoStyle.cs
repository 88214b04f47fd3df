using SkiaSharp;

namespace Sunaiva.Media.Videos;

/// <summary>How a style moves: what enters a scene and how the background drifts.</summary>
public enum SceneMotion
{
    Fade,
    SlideUp,
    KenBurns,
    Pop,
}

/// <summary>
/// One look of the onboarding videos: palette, typography, layout, motion and pacing. Drawn by <see cref="FramePainter"/>;
/// pacing sets the pauses between narrated sentences and scenes.
/// </summary>
public sealed record VideoStyle(
    string Id,
    string Name,
    string Description,
    SKColor Background,
    SKColor BackgroundAccent,
    SKColor Text,
    SKColor Accent,
    string HeadlineFont,
    string BodyFont,
    float HeadlineSize,
    bool Centered,
    bool Letterbox,
    SceneMotion Motion,
    double SentencePause,
    double ScenePause)
{
    public const string DefaultId = "minimal";

    public static readonly IReadOnlyList<VideoStyle> All =
    [
        new("minimal", "Minimal", "Calm white space, one accent colour, text that fades in; the slowest pacing.",
            new SKColor(0xF7, 0xF7, 0xF5), new SKColor(0xEC, 0xEC, 0xE8), new SKColor(0x1F, 0x23, 0x28), new SKColor(0x2F, 0x6F, 0xEB),
            "DejaVuSans-Bold.ttf", "DejaVuSans.ttf", 64, Centered: false, Letterbox: false, SceneMotion.Fade, 0.45, 0.8),
        new("vibrant", "Vibrant", "Saturated gradients, bold centred type that slides up, moving colour shapes; brisk pacing.",
            new SKColor(0xFF, 0x3D, 0x7F), new SKColor(0x6A, 0x2C, 0xFF), SKColors.White, new SKColor(0xFF, 0xE1, 0x4D),
            "DejaVuSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf", 76, Centered: true, Letterbox: false, SceneMotion.SlideUp, 0.25, 0.5),
        new("cinematic", "Cinematic", "Dark frames with letterbox bars, serif titles and a slow Ken Burns drift; measured pacing.",
            new SKColor(0x0B, 0x0D, 0x14), new SKColor(0x3A, 0x2A, 0x1A), new SKColor(0xF2, 0xE9, 0xDC), new SKColor(0xD9, 0xA4, 0x41),
            "DejaVuSerif-Bold.ttf", "DejaVuSerif.ttf", 68, Centered: true, Letterbox: true, SceneMotion.KenBurns, 0.4, 0.9),
        new("playful", "Playful", "Sunny colours, rounded cards, bouncing dots and titles that pop in; lively pacing.",
            new SKColor(0xFF, 0xD8, 0x6B), new SKColor(0x7F, 0xD8, 0xBE), new SKColor(0x3B, 0x2A, 0x5C), new SKColor(0xFF, 0x5E, 0x7E),
            "DejaVuSans-Bold.ttf", "DejaVuSans.ttf", 70, Centered: true, Letterbox: false, SceneMotion.Pop, 0.3, 0.6),
    ];

    public static VideoStyle? Find(string? id) =>
        All.FirstOrDefault(s => string.Equals(s.Id, id, StringComparison.Ordinal));
}
