using Sunaiva.Voice.Emotion;

namespace Sunaiva.Voice.Tests;

public sealed class EmotionDetectorTests
{
    private static readonly EmotionDetector Detector = new(new TextAffectAnalyzer(EmotionLexicon.LoadEmbedded()));

    // Settings of the eval set (bench/Sunaiva.Bench.Emotion/make_dataset.py) for the slt voice: stretch, f0 mean, f0 stddev, level.
    private static readonly Dictionary<EmotionLabel, (double Stretch, double F0, double F0Std, double Level)> Voice = new()
    {
        [EmotionLabel.Neutral] = (1.0, 170, 22, -24),
        [EmotionLabel.Happy] = (0.92, 200, 46, -20),
        [EmotionLabel.Sad] = (1.35, 145, 6, -33),
        [EmotionLabel.Angry] = (0.86, 184, 41, -13),
        [EmotionLabel.Anxious] = (0.76, 207, 16, -24),
    };

    [Theory]
    [InlineData("I got the job, I am so happy!", EmotionLabel.Happy)]
    [InlineData("My dog died last week and I miss him so much", EmotionLabel.Sad)]
    [InlineData("This is completely unacceptable, I am furious!", EmotionLabel.Angry)]
    [InlineData("I'm so worried about the exam tomorrow", EmotionLabel.Anxious)]
    [InlineData("The meeting is at nine tomorrow", EmotionLabel.Neutral)]
    public async Task Spoken_turn_with_clear_words_and_matching_voice_gets_its_label(string text, EmotionLabel expected)
    {
        var pcm = await Speak(text, expected);

        var reading = Detector.Detect(text, pcm);

        Assert.Equal(expected, reading.Label);
        Assert.NotNull(reading.Prosody);
        Assert.InRange(reading.Confidence, 0.3, 1);
    }

    [Fact]
    public async Task Happy_turn_is_pleasant_and_sad_turn_is_unpleasant_and_calmer()
    {
        var happy = Detector.Detect("We won the match, this is wonderful!", await Speak("We won the match, this is wonderful!", EmotionLabel.Happy));
        var sad = Detector.Detect("I feel so lonely these days", await Speak("I feel so lonely these days", EmotionLabel.Sad));
        var angry = Detector.Detect("I hate waiting on hold for hours!", await Speak("I hate waiting on hold for hours!", EmotionLabel.Angry));

        Assert.True(happy.Valence > 0.3, $"happy valence {happy.Valence}");
        Assert.True(sad.Valence < -0.3, $"sad valence {sad.Valence}");
        Assert.True(sad.Arousal < angry.Arousal, $"sad arousal {sad.Arousal}, angry {angry.Arousal}");
        Assert.True(sad.Prosody!.WordsPerSecond < angry.Prosody!.WordsPerSecond);
        Assert.True(sad.Prosody.EnergyDb < angry.Prosody.EnergyDb);
    }

    [Fact]
    public async Task Neutral_words_take_the_emotion_of_the_voice_against_the_speakers_baseline()
    {
        const string text = "I just got the call from the office";
        var calm = new List<ProsodyFeatures>();
        foreach (var sentence in new[] { "I would like to check my schedule for next week", "The weather today is cloudy with some sun", "We will have soup for dinner tonight" })
        {
            calm.Add(ProsodyAnalyzer.Measure(await Speak(sentence, EmotionLabel.Neutral), sentence.Split(' ').Length)!);
        }

        var baseline = ProsodyBaseline.FromTurns(calm);

        Assert.Equal(EmotionLabel.Neutral, Detector.Detect(text).Label);
        Assert.Equal(EmotionLabel.Sad, Detector.Detect(text, await Speak(text, EmotionLabel.Sad), baseline).Label);
        Assert.Equal(EmotionLabel.Angry, Detector.Detect(text, await Speak(text, EmotionLabel.Angry), baseline).Label);
    }

    [Fact]
    public void Negation_flips_happy_to_unhappy()
    {
        var happy = Detector.Detect("I am happy with the result");
        var notHappy = Detector.Detect("I am not happy with the result");
        var neverHappy = Detector.Detect("I'm never happy these days");

        Assert.Equal(EmotionLabel.Happy, happy.Label);
        Assert.True(happy.Valence > 0);
        Assert.NotEqual(EmotionLabel.Happy, notHappy.Label);
        Assert.True(notHappy.Valence < 0, $"'not happy' valence {notHappy.Valence}");
        Assert.Equal(EmotionLabel.Sad, notHappy.Label);
        Assert.True(neverHappy.Valence < 0);
    }

    [Fact]
    public void Negated_worry_is_not_anxious()
    {
        Assert.Equal(EmotionLabel.Anxious, Detector.Detect("I am worried about tomorrow").Label);
        Assert.NotEqual(EmotionLabel.Anxious, Detector.Detect("I am not worried about tomorrow").Label);
    }

    [Fact]
    public void Intensifiers_raise_and_dampeners_lower_the_valence()
    {
        var plain = Detector.Detect("I am happy").Valence;
        var boosted = Detector.Detect("I am extremely happy").Valence;
        var dampened = Detector.Detect("I am slightly happy").Valence;
        var shouted = Detector.Detect("I am so HAPPY!!").Valence;

        Assert.True(boosted > plain, $"{boosted} <= {plain}");
        Assert.True(dampened < plain, $"{dampened} >= {plain}");
        Assert.True(shouted > plain, $"{shouted} <= {plain}");
    }

    [Fact]
    public void Reply_voice_is_calmer_and_slower_for_sad_and_anxious_users_and_unchanged_for_neutral_ones()
    {
        var sad = Detector.Detect("I feel so lonely and sad, I miss her");
        var anxious = Detector.Detect("I'm scared and nervous about the surgery");
        var neutral = Detector.Detect("The package should arrive on Thursday");

        Assert.True(sad.Tts.RateFactor < 1 && sad.Tts.PitchFactor < 1);
        Assert.True(anxious.Tts.RateFactor < 1);
        Assert.Equal(new TtsHints(1, 1), neutral.Tts);
    }

    [Fact]
    public void Turn_without_usable_audio_is_judged_from_its_words()
    {
        var reading = Detector.Detect("This is ridiculous, I'm so angry!", new short[1600]);

        Assert.Equal(EmotionLabel.Angry, reading.Label);
        Assert.Null(reading.Prosody);
        Assert.Equal(1, reading.Probabilities.Values.Sum(), 2);
    }

    [Fact]
    public async Task Prosody_measures_the_pitch_flite_was_asked_for()
    {
        var low = ProsodyAnalyzer.Measure(await FliteSpeech.SynthesizeAsync("The train leaves from platform four", "rms", 1, 100, 10, -24), 6)!;
        var high = ProsodyAnalyzer.Measure(await FliteSpeech.SynthesizeAsync("The train leaves from platform four", "slt", 1, 200, 10, -24), 6)!;

        Assert.InRange(low.PitchHz, 80, 125);
        Assert.InRange(high.PitchHz, 165, 240);
        Assert.InRange(low.EnergyDb, -34, -18);
    }

    [Fact]
    public void Lexicon_is_read_from_the_vader_data_file()
    {
        var lexicon = EmotionLexicon.LoadEmbedded();

        Assert.True(lexicon.Valence.Count > 7000);
        Assert.Equal(2.7, lexicon.Valence["happy"]);
        Assert.Contains("isn't", lexicon.Negations);
        Assert.True(lexicon.Boosters["extremely"] > 0);
    }

    private static Task<short[]> Speak(string text, EmotionLabel label)
    {
        var (stretch, f0, std, level) = Voice[label];
        return FliteSpeech.SynthesizeAsync(text, "slt", stretch, f0, std, level);
    }
}
