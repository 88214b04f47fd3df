namespace Sunaiva.Voice.Emotion;

public static class EmotionExtensions
{
    /// <summary>Registers <see cref="EmotionDetector"/> (lexicon files read once, at the first use) and the voice pipeline's emotion observer.</summary>
    public static IHostApplicationBuilder AddVoiceEmotion(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton(_ => EmotionLexicon.LoadEmbedded());
        builder.Services.AddSingleton<TextAffectAnalyzer>();
        builder.Services.AddSingleton<EmotionDetector>();
        builder.Services.AddMemoryCache();
        builder.Services.AddSingleton<Sunaiva.Voice.Pipeline.ITurnObserver, EmotionTurnObserver>();
        return builder;
    }
}
