using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;

namespace Sunaiva.Testing;

/// <summary>
/// What the programs under bench/ share: their arguments, the repository root, waiting for a started service, and
/// percentiles of sorted samples.
/// </summary>
public static class BenchSupport
{
    /// <summary>The value after <c>--{name}</c> as an integer, or <paramref name="fallback"/>.</summary>
    public static int IntArg(string[] args, string name, int fallback) =>
        StringArg(args, name) is { } value ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;

    /// <summary>The value after <c>--{name}</c>, or null.</summary>
    public static string? StringArg(string[] args, string name)
    {
        var i = Array.IndexOf(args, "--" + name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>
    /// Every <c>--{name} NAME=VALUE</c> of the command line into <paramref name="environment"/> (repeatable): a runtime switch
    /// for the one process the bench starts with it, e.g. <c>--billing-env</c> or <c>--media-env</c>.
    /// </summary>
    public static void AddEnvArgs(string[] args, string name, IDictionary<string, string?> environment)
    {
        for (var i = 0; i + 1 < args.Length; i++)
        {
            if (args[i] == "--" + name && args[i + 1].Split('=', 2) is [var key, var value])
            {
                environment[key] = value;
            }
        }
    }

    /// <summary>
    /// CPU time spent by the Postgres server listening on <paramref name="port"/> (its postmaster started with <c>-p port</c>):
    /// the postmaster, its live backends and the ones it reaped, read from <c>/proc</c>; zero elsewhere than Linux or when
    /// no such server runs here.
    /// </summary>
    public static TimeSpan PostgresCpu(int port)
    {
        if (!OperatingSystem.IsLinux())
        {
            return TimeSpan.Zero;
        }

        var stats = new Dictionary<int, string[]>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                if (stat.Contains("(postgres)", StringComparison.Ordinal))
                {
                    stats[pid] = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        var postmaster = stats.Keys.FirstOrDefault(pid =>
        {
            try
            {
                return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0').SkipWhile(a => a != "-p").Skip(1).FirstOrDefault() == port.ToString(CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                return false;
            }
        });
        if (postmaster == 0)
        {
            return TimeSpan.Zero;
        }

        // Fields after the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14), in USER_HZ (100 a second).
        long Field(string[] f, int i) => long.Parse(f[i], CultureInfo.InvariantCulture);
        var m = stats[postmaster];
        var ticks = Field(m, 11) + Field(m, 12) + Field(m, 13) + Field(m, 14);
        foreach (var (_, f) in stats.Where(s => s.Key != postmaster && Field(s.Value, 1) == postmaster))
        {
            ticks += Field(f, 11) + Field(f, 12);
        }

        return TimeSpan.FromSeconds(ticks / 100.0);
    }

    /// <summary>The repository's root (the folder holding Sunaiva.sln), found upwards from the running program.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sunaiva.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Sunaiva.sln not found above " + AppContext.BaseDirectory);
    }

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

    /// <summary>
    /// Time to the first audio byte past the WAV header of Voice's <c>POST /tts</c> (the rest is read and dropped); says so
    /// when the cache answer (<c>Sunaiva-Tts-Cache</c>) was not the <paramref name="expect"/>ed hit or miss.
    /// </summary>
    public static async Task<double> TtsFirstByteAsync(HttpClient http, string voiceId, string text, string expect)
    {
        var watch = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/tts") { Content = JsonContent.Create(new { voiceId, text }) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64 * 1024];
        var got = 0;
        while (got <= 44)
        {
            var n = await body.ReadAsync(buffer);
            if (n == 0)
            {
                break;
            }

            got += n;
        }

        var elapsed = watch.Elapsed.TotalMilliseconds;
        while (await body.ReadAsync(buffer) > 0)
        {
        }

        var cache = response.Headers.GetValues("Sunaiva-Tts-Cache").Single();
        if (cache != expect)
        {
            Console.WriteLine($"  (expected a {expect}, got a {cache})");
        }

        return elapsed;
    }
}
