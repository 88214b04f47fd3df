using System.Diagnostics;

namespace Sunaiva.Testing;

/// <summary>Test speech made with flite's <c>slt</c> voice (pocketsphinx recognizes it far better than espeak's voices).</summary>
public static class Flite
{
    /// <summary>A WAV file as flite writes it (its own sample rate): what a user uploads.</summary>
    public static async Task<byte[]> WavAsync(string text)
    {
        var file = Path.Combine(Path.GetTempPath(), $"flite-{Guid.NewGuid():N}.wav");
        try
        {
            var start = new ProcessStartInfo("flite") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { "-voice", "slt", "-t", text, "-o", file })
            {
                start.ArgumentList.Add(a);
            }

            using (var process = Process.Start(start)!)
            {
                await process.WaitForExitAsync();
            }

            return await File.ReadAllBytesAsync(file);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
