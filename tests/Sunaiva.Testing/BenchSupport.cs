namespace Sunaiva.Testing;

/// <summary>What the programs under bench/ share: waiting for a started service, and percentiles of sorted samples.</summary>
public static class BenchSupport
{
    /// <summary>Waits until <paramref name="url"/> answers 2xx (a service started as a process is ready), at most 90 s.</summary>
    public static async Task WaitForAsync(string url)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            try
            {
                if ((await client.GetAsync(url)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{url} did not answer within 90 s");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>The <paramref name="p"/> quantile (0..1, nearest rank) of ascending <paramref name="sorted"/> samples; NaN when empty.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, Math.Max(0, (int)Math.Ceiling(p * sorted.Count) - 1))];
}
