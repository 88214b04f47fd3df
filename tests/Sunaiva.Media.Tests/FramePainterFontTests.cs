using SkiaSharp;
using Sunaiva.Media.Videos;

namespace Sunaiva.Media.Tests;

/// <summary>Names and scripts in any writing system are drawn with glyphs, never .notdef boxes (tofu).</summary>
public sealed class FramePainterFontTests
{
    public static TheoryData<string> Names => new()
    {
        "आरव शर्मा",     // Devanagari
        "さくら 山田",    // Japanese
        "张伟",           // Chinese
        "김민준",         // Korean
        "محمد علي",       // Arabic
        "Дмитрий",        // Cyrillic
        "Zoë O'Brien",    // Latin
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void A_name_in_any_script_is_drawn_with_a_typeface_that_has_its_glyphs(string name)
    {
        var script = ScriptTemplates.Build(VideoKinds.Welcome, VideoProfile.From(name, [], "en", null), null);
        using var painter = new FramePainter(VideoStyle.Find("cinematic")!, script, [], 40, burnCaptions: true);

        foreach (var role in new[] { "headline", "body", "caption" })
        {
            var runs = painter.Shaped($"Welcome, {name}", role);
            Assert.All(runs, run => Assert.DoesNotContain((ushort)0, run.Glyphs));
            using var font = new SKFont();
            foreach (var run in runs)
            {
                font.Typeface = run.Typeface;
                Assert.All(run.Text.EnumerateRunes().Where(r => !System.Text.Rune.IsWhiteSpace(r)), r => Assert.True(font.ContainsGlyph(r.Value), $"{run.Typeface.FamilyName} has no glyph for U+{r.Value:X4}"));
            }
        }
    }

    [Fact]
    public void A_Hindi_script_draws_every_line_with_glyphs_and_its_poster_shows_the_name()
    {
        var hindi = ScriptTemplates.Build(VideoKinds.Welcome, VideoProfile.From("आरव", [], "hi", null), null);
        var latin = ScriptTemplates.Build(VideoKinds.Welcome, VideoProfile.From("Aarav", [], "hi", null), null);
        using var painter = Painter(hindi);
        using var latinPainter = Painter(latin);

        foreach (var text in hindi.Sentences.Concat(hindi.Scenes.SelectMany(s => new[] { s.Headline, s.Body })))
        {
            Assert.All(painter.Shaped(text, "caption"), run => Assert.DoesNotContain((ushort)0, run.Glyphs));
        }

        // Devanagari is shaped: the conjunct in "स्वागत" (स + virama + व) takes fewer glyphs than its characters.
        var welcome = painter.Shaped("स्वागत", "headline");
        Assert.True(welcome.Sum(r => r.Glyphs.Length) < "स्वागत".Length, "Devanagari drawn character by character, not shaped");
        Assert.NotEqual(Poster(painter), Poster(latinPainter));
    }

    private static FramePainter Painter(VideoScript script)
    {
        var style = VideoStyle.Find("minimal")!;
        var track = NarrationBuilder.CaptionsOnly(script, style);
        return new FramePainter(style, script, track.Cues, track.Duration, burnCaptions: true);
    }

    private static byte[] Poster(FramePainter painter) => painter.Still(1.6, SKEncodedImageFormat.Png, 100);
}
