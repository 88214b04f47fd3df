namespace Sunaiva.Voice.Emotion;

/// <summary>
/// Prosody of one utterance measured from PCM16 16 kHz mono: pitch (YIN), energy (RMS in dBFS) and speaking rate.
/// </summary>
/// <param name="SpeechSeconds">Frames above the energy gate (speech, voiced or not).</param>
/// <param name="VoicedSeconds">Frames where YIN found a pitch.</param>
/// <param name="PitchHz">Median fundamental frequency of voiced frames.</param>
/// <param name="PitchSpreadSemitones">Standard deviation of the pitch in semitones around its median (gender-neutral liveliness).</param>
/// <param name="EnergyDb">Mean RMS level of speech frames, dBFS.</param>
/// <param name="EnergySpreadDb">Standard deviation of the RMS level of speech frames, dB.</param>
/// <param name="WordsPerSecond">Transcript words divided by <paramref name="SpeechSeconds"/>.</param>
public sealed record ProsodyFeatures(
    double SpeechSeconds,
    double VoicedSeconds,
    double PitchHz,
    double PitchSpreadSemitones,
    double EnergyDb,
    double EnergySpreadDb,
    double WordsPerSecond);

/// <summary>
/// What ordinary speech of one speaker sounds like; prosody is judged against it. The defaults are typical conversational
/// speech at a normal microphone level (rate counts speech frames only, pauses excluded: about 3.6 words/s); a session may pass the speaker's own baseline once it has heard a few turns.
/// <c>PitchHz</c> 0 means the speaker's ordinary pitch is not known yet: pitch height is then left out (it depends on
/// the speaker more than on the emotion).
/// </summary>
public sealed record ProsodyBaseline(
    double PitchSpreadSemitones = 2.5,
    double PitchSpreadScale = 1.2,
    double EnergyDb = -24,
    double EnergyScale = 5,
    double WordsPerSecond = 3.6,
    double WordsPerSecondScale = 0.7,
    double PitchHz = 0,
    double PitchScaleSemitones = 2)
{
    public static ProsodyBaseline Default { get; } = new();

    /// <summary>A speaker's baseline from turns of ordinary (calm) speech: their means, with the default scales.</summary>
    public static ProsodyBaseline FromTurns(IReadOnlyCollection<ProsodyFeatures> turns)
    {
        if (turns.Count == 0)
        {
            return Default;
        }

        return Default with
        {
            PitchSpreadSemitones = turns.Average(t => t.PitchSpreadSemitones),
            EnergyDb = turns.Average(t => t.EnergyDb),
            WordsPerSecond = turns.Average(t => t.WordsPerSecond),
            PitchHz = turns.Where(t => t.PitchHz > 0).Select(t => t.PitchHz).DefaultIfEmpty(0).Average(),
        };
    }
}
