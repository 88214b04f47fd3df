using System.Buffers.Binary;
using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;

namespace Sunaiva.Voice.Catalog;

/// <summary>Where espeak-ng is and how long a sample may take.</summary>
public sealed class EspeakOptions
{
    public const string SectionName = "Voice:Espeak";

    [System.ComponentModel.DataAnnotations.Required]
    public string Executable { get; set; } = "espeak-ng";

    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:01", "00:01:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>espeak-ng could not produce audio (missing, failed or too slow).</summary>
public sealed class SpeechSynthesisUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Speaks each voice's sample sentence with espeak-ng (a process, no shell) and caches the WAV by voice id.</summary>
public sealed partial class EspeakSampler(HybridCache cache, VoiceCatalog catalog, IOptions<EspeakOptions> options, ILogger<EspeakSampler> logger)
{
    // Bump when the sample text or the synthesis arguments change, so stale clips are not served.
    private const string CacheVersion = "v1";

    private static readonly HybridCacheEntryOptions Entry = new() { Expiration = TimeSpan.FromDays(7), LocalCacheExpiration = TimeSpan.FromHours(1) };

    public ValueTask<byte[]> SampleAsync(VoiceEntry voice, CancellationToken ct) =>
        cache.GetOrCreateAsync($"voice-sample:{CacheVersion}:{voice.Id}", (this, voice), static (state, token) => state.Item1.SynthesizeAsync(state.voice, token), Entry, tags: ["voice-sample"], cancellationToken: ct);

    private async ValueTask<byte[]> SynthesizeAsync(VoiceEntry voice, CancellationToken ct)
    {
        var settings = options.Value;
        var start = new ProcessStartInfo(settings.Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-v", $"{voice.Local.Voice}+{voice.Local.Variant}", "-p", $"{voice.Local.Pitch}", "-s", $"{voice.Local.Rate}", "--stdout", "--", catalog.SampleText(voice) })
        {
            start.ArgumentList.Add(argument);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(settings.Timeout);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new SpeechSynthesisUnavailableException("espeak-ng did not start.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            LogUnavailable(logger, voice.Id, "not installed");
            throw new SpeechSynthesisUnavailableException("espeak-ng is not installed.", e);
        }

        using (process)
        {
            try
            {
                using var audio = new MemoryStream();
                var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
                await process.StandardOutput.BaseStream.CopyToAsync(audio, timeout.Token);
                await process.WaitForExitAsync(timeout.Token);
                await stderr;
                if (process.ExitCode != 0 || audio.Length <= 44)
                {
                    LogUnavailable(logger, voice.Id, $"exit code {process.ExitCode}");
                    throw new SpeechSynthesisUnavailableException($"espeak-ng exited with code {process.ExitCode}.");
                }

                return FixWavSizes(audio.ToArray());
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                process.Kill(entireProcessTree: true);
                LogUnavailable(logger, voice.Id, "timed out");
                throw new SpeechSynthesisUnavailableException($"espeak-ng took longer than {settings.Timeout}.", e);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
        }
    }

    /// <summary>espeak-ng writing to a pipe cannot seek back, so its RIFF and data sizes are placeholders: set the real ones.</summary>
    internal static byte[] FixWavSizes(byte[] wav)
    {
        var span = wav.AsSpan();
        if (wav.Length < 44 || !span[..4].SequenceEqual("RIFF"u8) || !span[8..12].SequenceEqual("WAVE"u8))
        {
            throw new SpeechSynthesisUnavailableException("espeak-ng did not write a WAV file.");
        }

        BinaryPrimitives.WriteUInt32LittleEndian(span[4..8], (uint)(wav.Length - 8));
        var offset = 12;
        while (offset + 8 <= wav.Length)
        {
            var size = BinaryPrimitives.ReadUInt32LittleEndian(span[(offset + 4)..]);
            if (span.Slice(offset, 4).SequenceEqual("data"u8))
            {
                BinaryPrimitives.WriteUInt32LittleEndian(span[(offset + 4)..], (uint)(wav.Length - offset - 8));
                return wav;
            }

            offset += 8 + (int)size + (int)(size % 2);
        }

        throw new SpeechSynthesisUnavailableException("espeak-ng wrote a WAV file without a data chunk.");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "espeak-ng could not speak the sample of {VoiceId}: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string voiceId, string reason);
}
