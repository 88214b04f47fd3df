// Emotion eval: the labelled utterances of Data/utterances.tsv spoken by flite with each row's rate, pitch, pitch
// variation and level, then labelled by the detector from the words alone and from words + prosody (against the default
// baseline, and against each voice's own baseline measured on five calm calibration sentences that are not in the set).
// Prints per-class precision and recall, the confusion matrix, accuracy, and the detector's cost per utterance.
using System.Diagnostics;
using System.Globalization;
using Sunaiva.Voice.Emotion;
using Sunaiva.Voice.Tests;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var dataPath = Path.Combine(AppContext.BaseDirectory, "Data", "utterances.tsv");
var rows = File.ReadLines(dataPath).Where(l => l.Length > 0 && l[0] != '#').Select(Row.Parse).ToArray();
Console.WriteLine($"Emotion eval: {rows.Length} utterances ({string.Join(", ", rows.GroupBy(r => r.Label).Select(g => $"{g.Count()} {g.Key}"))}), {rows.Count(r => r.Cue == "prosody")} with neutral words (emotion only in the voice)");

var synthesis = Stopwatch.StartNew();
var audio = new short[rows.Length][];
await Parallel.ForEachAsync(Enumerable.Range(0, rows.Length), new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (i, ct) =>
{
    // Cached by the row's content in the temp folder: flite is deterministic, so a cached clip is the same clip.
    var r = rows[i];
    var key = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(r.ToString())))[..24];
    var cached = Path.Combine(Path.GetTempPath(), "sunaiva-emotion-eval", key + ".pcm");
    if (File.Exists(cached))
    {
        var bytes = await File.ReadAllBytesAsync(cached, ct);
        audio[i] = new short[bytes.Length / 2];
        Buffer.BlockCopy(bytes, 0, audio[i], 0, bytes.Length);
        return;
    }

    audio[i] = await FliteSpeech.SynthesizeAsync(r.Text, r.Voice, r.Stretch, r.F0Mean, r.F0Std, r.Level, ct);
    var raw = new byte[audio[i].Length * 2];
    Buffer.BlockCopy(audio[i], 0, raw, 0, raw.Length);
    Directory.CreateDirectory(Path.GetDirectoryName(cached)!);
    await File.WriteAllBytesAsync(cached, raw, ct);
});
Console.WriteLine($"Synthesized with flite (or read from the temp cache) in {synthesis.Elapsed.TotalSeconds:F1} s ({audio.Sum(a => a.Length) / 16000.0:F0} s of speech)");

var detector = new EmotionDetector(new TextAffectAnalyzer(EmotionLexicon.LoadEmbedded()));

// Calibration: five calm sentences per voice at the neutral settings, as a session would hear in its first turns.
string[] calm = ["I would like to check my schedule for next week", "The weather today is cloudy with some sun", "I am reading the news on my phone", "We will have soup for dinner tonight", "The office is on the second floor"];
var voiceBase = new Dictionary<string, double> { ["slt"] = 170, ["rms"] = 105, ["awb"] = 120 };
var baselines = new Dictionary<string, ProsodyBaseline>();
foreach (var (voice, f0) in voiceBase)
{
    var turns = new List<ProsodyFeatures>();
    foreach (var sentence in calm)
    {
        var pcm = await FliteSpeech.SynthesizeAsync(sentence, voice, 1.0, f0, 18 * f0 / 140, -24);
        if (ProsodyAnalyzer.Measure(pcm, sentence.Split(' ').Length) is { } features)
        {
            turns.Add(features);
        }
    }

    baselines[voice] = ProsodyBaseline.FromTurns(turns);
    Console.WriteLine($"  baseline {voice}: pitch spread {baselines[voice].PitchSpreadSemitones:F2} st, level {baselines[voice].EnergyDb:F1} dBFS, {baselines[voice].WordsPerSecond:F2} words/s");
}

// Mean prosody per label against each voice's baseline (z-scores as the detector sees them): what the voice adds.
Console.WriteLine();
Console.WriteLine($"{"label",-9} {"spread z",9} {"level z",8} {"rate z",7}");
foreach (var group in rows.Select((r, i) => (r, i)).GroupBy(x => x.r.Label))
{
    var z = group.Select(x => (x.r, f: ProsodyAnalyzer.Measure(audio[x.i], x.r.Text.Split(' ').Length))).Where(x => x.f is not null)
        .Select(x => (b: baselines[x.r.Voice], f: x.f!))
        .Select(x => ((x.f.PitchSpreadSemitones - x.b.PitchSpreadSemitones) / x.b.PitchSpreadScale, (x.f.EnergyDb - x.b.EnergyDb) / x.b.EnergyScale, (x.f.WordsPerSecond - x.b.WordsPerSecond) / x.b.WordsPerSecondScale)).ToArray();
    Console.WriteLine($"{group.Key,-9} {z.Average(v => v.Item1),9:F2} {z.Average(v => v.Item2),8:F2} {z.Average(v => v.Item3),7:F2}");
}

var modes = new (string Name, Func<int, EmotionReading> Run)[]
{
    ("words only", i => detector.Detect(rows[i].Text)),
    ("words + prosody (default baseline)", i => detector.Detect(rows[i].Text, audio[i])),
    ("words + prosody (speaker baseline)", i => detector.Detect(rows[i].Text, audio[i], baselines[rows[i].Voice])),
};
var labels = Enum.GetValues<EmotionLabel>();
foreach (var (name, run) in modes)
{
    var predicted = Enumerable.Range(0, rows.Length).Select(run).ToArray();
    Report(name, rows, predicted.Select(p => p.Label).ToArray(), labels);
}

// Cost: the detector against a bare pass over the same samples (sum of squares), per utterance.
var warm = detector.Detect(rows[0].Text, audio[0]);
var bare = Stopwatch.StartNew();
double sink = 0;
for (var i = 0; i < rows.Length; i++)
{
    foreach (var s in audio[i])
    {
        sink += (double)s * s;
    }
}

bare.Stop();
var full = Stopwatch.StartNew();
for (var i = 0; i < rows.Length; i++)
{
    sink += detector.Detect(rows[i].Text, audio[i]).Valence;
}

full.Stop();
var seconds = audio.Sum(a => a.Length) / 16000.0;
Console.WriteLine();
Console.WriteLine($"Cost: {full.Elapsed.TotalMilliseconds / rows.Length:F2} ms per utterance (mean {seconds / rows.Length:F2} s of audio), real-time factor {full.Elapsed.TotalSeconds / seconds:F4}; bare pass over the samples {bare.Elapsed.TotalMilliseconds / rows.Length:F3} ms (ratio {full.Elapsed.TotalMilliseconds / Math.Max(bare.Elapsed.TotalMilliseconds, 1e-6):F0}x){(sink == 42 ? "" : "")}; {warm.Label}");

static void Report(string name, Row[] rows, EmotionLabel[] predicted, EmotionLabel[] labels)
{
    var actual = rows.Select(r => Enum.Parse<EmotionLabel>(r.Label, ignoreCase: true)).ToArray();
    Console.WriteLine();
    Console.WriteLine($"== {name}: accuracy {Accuracy(actual, predicted):P1} (words carry it: {Accuracy(Subset(actual, rows, "clear"), Subset(predicted, rows, "clear")):P1}; only the voice: {Accuracy(Subset(actual, rows, "prosody"), Subset(predicted, rows, "prosody")):P1})");
    Console.WriteLine($"{"class",-9} {"precision",9} {"recall",7} {"n",4}");
    foreach (var label in labels)
    {
        var tp = actual.Zip(predicted).Count(p => p.First == label && p.Second == label);
        var predictedCount = predicted.Count(p => p == label);
        var actualCount = actual.Count(a => a == label);
        Console.WriteLine($"{Name(label),-9} {(predictedCount == 0 ? 0 : (double)tp / predictedCount),9:P1} {(actualCount == 0 ? 0 : (double)tp / actualCount),7:P1} {actualCount,4}");
    }

    Console.WriteLine($"confusion (rows actual, columns predicted): {string.Join(" ", labels.Select(l => $"{Name(l),8}"))}");
    foreach (var label in labels)
    {
        Console.WriteLine($"  {Name(label),-40} {string.Join(" ", labels.Select(p => $"{actual.Zip(predicted).Count(x => x.First == label && x.Second == p),8}"))}");
    }
}

static string Name(EmotionLabel label) => label.ToString().ToLowerInvariant();

static double Accuracy(EmotionLabel[] actual, EmotionLabel[] predicted) => actual.Length == 0 ? 0 : (double)actual.Zip(predicted).Count(p => p.First == p.Second) / actual.Length;

static EmotionLabel[] Subset(EmotionLabel[] values, Row[] rows, string cue) => values.Where((_, i) => rows[i].Cue == cue).ToArray();

internal sealed record Row(string Id, string Label, string Voice, double Stretch, double F0Mean, double F0Std, double Level, string Cue, string Text)
{
    public static Row Parse(string line)
    {
        var f = line.Split('\t');
        return new Row(f[0], f[1], f[2], D(f[3]), D(f[4]), D(f[5]), D(f[6]), f[7], f[8]);
    }

    private static double D(string s) => double.Parse(s, CultureInfo.InvariantCulture);
}
