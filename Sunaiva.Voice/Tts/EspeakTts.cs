using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Sunaiva.Voice.Catalog;

namespace Sunaiva.Voice.Tts;

/// <summary>
/// The local TTS adapter: espeak-ng with the catalog's local voice (variant, pitch, rate), WAV on stdout read as it is
/// written (first audio in a few milliseconds), resampled from espeak's 22.05 kHz to <see cref="TtsFormat.SampleRate"/>.
/// A process per sentence: espeak-ng has no server mode, and its start is a few milliseconds.
/// </summary>
public sealed class EspeakTts(IOptions<EspeakOptions> options) : ITtsAdapter
{
    private const int EspeakRate = 22050;

    public const string ProviderName = "espeak";

    public string Provider => ProviderName;

    public string VoiceKey(VoiceEntry voice) => $"{voice.Local.Voice}+{voice.Local.Variant}|{voice.Local.Pitch}|{voice.Local.Rate}";

    public async IAsyncEnumerable<ReadOnlyMemory<byte>> SynthesizeAsync(VoiceEntry voice, string text, SpeechStyle style, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var local = voice.Local;
        var pitch = Math.Clamp(local.Pitch + (local.Pitch * style.PitchPercent / 100), 0, 99);
        var rate = Math.Clamp(local.Rate + (local.Rate * style.RatePercent / 100), 80, 450);
        var start = new ProcessStartInfo(options.Value.Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-v", $"{local.Voice}+{local.Variant}", "-p", $"{pitch}", "-s", $"{rate}", "--stdout", "--", text })
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new SpeechSynthesisUnavailableException("espeak-ng did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new SpeechSynthesisUnavailableException("espeak-ng is not installed.", e);
        }

        using (process)
        {
            _ = process.StandardError.ReadToEndAsync(CancellationToken.None);
            var resampler = new PcmResampler(EspeakRate, TtsFormat.SampleRate);
            var stdout = process.StandardOutput.BaseStream;
            var buffer = new byte[4096];
            var header = 44;
            var completed = false;
            try
            {
                while (true)
                {
                    var read = await stdout.ReadAsync(buffer, cancellationToken);
                    if (read == 0)
                    {
                        break;
                    }

                    var offset = 0;
                    if (header > 0)
                    {
                        offset = Math.Min(header, read);
                        header -= offset;
                    }

                    if (offset < read)
                    {
                        var pcm = resampler.Process(buffer.AsSpan(offset, read - offset));
                        if (pcm.Length > 0)
                        {
                            yield return pcm;
                        }
                    }
                }

                await process.WaitForExitAsync(cancellationToken);
                completed = true;
                if (process.ExitCode != 0)
                {
                    throw new SpeechSynthesisUnavailableException($"espeak-ng exited with code {process.ExitCode}.");
                }
            }
            finally
            {
                if (!completed && !process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
    }
}
