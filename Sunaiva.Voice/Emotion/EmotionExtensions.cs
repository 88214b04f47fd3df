namespace Sunaiva.Voice.Emotion;

public static class EmotionExtensions
{
    /// <summary>Registers <see cref="EmotionDetector"/> (lexicon files read once, at the first use).</summary>
    public static IHostApplicationBuilder AddVoiceEmotion(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton(_ => EmotionLexicon.LoadEmbedded());
        builder.Services.AddSingleton<TextAffectAnalyzer>();
        builder.Services.AddSingleton<EmotionDetector>();
        return builder;
    }
}
