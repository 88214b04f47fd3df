using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Dapper;
using Npgsql;
using Sunaiva.Testing;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

/// <summary>The ops page in a real headless Chromium, on seeded usage: what it shows must be what the ledger holds.</summary>
[Collection(ServersCollection.Name)]
public sealed partial class DashboardBrowserTests(LocalServers servers)
{
    [Fact]
    public async Task Ops_page_in_headless_chromium_shows_the_ledger_totals_per_provider_and_capability()
    {
        await using var app = new EngagementFactory(servers, kestrel: true);
        await app.StartAsync();
        await app.EchoAsync("hello", "ada");
        await app.FlushLedgerAsync();
        await SeedAsync(app.ConnectionString);

        var url = new Uri(app.KestrelAddress!, "/ops?window=1h#token=" + DevTokens.For("ops-1", ops: true));
        var dom = await Chromium.DumpDomAsync(url);

        Assert.Contains("data-loaded=\"1h\"", dom);
        await using var connection = new NpgsqlConnection(app.ConnectionString);
        var totals = await connection.QuerySingleAsync<(long Calls, decimal Cost, long Fallbacks, long Errors)>(
            "SELECT count(*), sum(cost_usd), count(*) FILTER (WHERE outcome = 'fallback'), count(*) FILTER (WHERE outcome = 'error') FROM usage_ledger");
        Assert.Equal(Int(totals.Calls), TestId(dom, "total-calls"));
        Assert.Equal(Usd(totals.Cost), TestId(dom, "total-cost"));
        Assert.Equal(Int(totals.Fallbacks), TestId(dom, "total-fallbacks"));
        Assert.Equal(Int(totals.Errors), TestId(dom, "total-errors"));

        var expected = await connection.QueryAsync<(string Capability, string Provider, long Calls, long Errors, long Fallbacks, double? P50, double? P95, double? P99, decimal Cost)>(
            """
            SELECT capability, provider, count(*), count(*) FILTER (WHERE outcome = 'error'), count(*) FILTER (WHERE outcome = 'fallback'),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE outcome IN ('ok', 'fallback', 'error', 'timeout')),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE outcome IN ('ok', 'fallback', 'error', 'timeout')),
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE outcome IN ('ok', 'fallback', 'error', 'timeout')),
                   sum(cost_usd)
            FROM usage_ledger GROUP BY capability, provider
            """);
        foreach (var row in expected.Where(r => r.Capability != "echo"))
        {
            var cells = Row(dom, "providers", $"engagement|{row.Capability}|{row.Provider}");
            Assert.Equal(Int(row.Calls), cells["calls"]);
            Assert.Equal(Int(row.Errors), cells["errors"]);
            Assert.Equal(Int(row.Fallbacks), cells["fallbacks"]);
            Assert.Equal(Ms(row.P50), cells["p50"]);
            Assert.Equal(Ms(row.P95), cells["p95"]);
            Assert.Equal(Ms(row.P99), cells["p99"]);
            Assert.Equal(Usd(row.Cost), cells["cost"]);
        }

        var tts = Row(dom, "capabilities", "tts");
        Assert.Equal(Usd(expected.Where(r => r.Capability == "tts").Sum(r => r.Cost)), tts["cost"]);
        var users = await connection.QuerySingleAsync<long>("SELECT count(DISTINCT user_id) FROM usage_ledger");
        Assert.Equal(Int(users), Row(dom, "users", "engagement")["activeUsers"]);
        Assert.Equal(Usd(Math.Round(totals.Cost / users, 6)), Row(dom, "users", "engagement")["costPerActiveUser"]);
        Assert.Equal("closed", Row(dom, "circuits", "engagement|echo|primary")["circuit"]);
        Assert.Contains("<polyline", dom);

        var screenshot = await Chromium.ScreenshotAsync(url, "ops-dashboard.png");
        Assert.True(new FileInfo(screenshot).Length > 10_000);
    }

    [Fact]
    public async Task Ops_page_without_a_token_asks_for_one_and_shows_no_data()
    {
        await using var app = new EngagementFactory(servers, kestrel: true);
        await app.StartAsync();
        await SeedAsync(app.ConnectionString);

        var dom = await Chromium.DumpDomAsync(new Uri(app.KestrelAddress!, "/ops"));

        Assert.Contains("No ops token", dom);
        Assert.DoesNotContain("data-testid=\"total-calls\"", dom);
    }

    private static async Task SeedAsync(string connectionString)
    {
        // Four TTS calls on ElevenLabs (one error), three fallbacks to espeak, two emails; three users.
        var rows = new (string Capability, string Provider, string Unit, decimal Units, decimal Cost, double Ms, string Outcome, string? User)[]
        {
            ("tts", "elevenlabs", "characters", 120, 0.036m, 100, "ok", "ada"),
            ("tts", "elevenlabs", "characters", 80, 0.024m, 200, "ok", "bob"),
            ("tts", "elevenlabs", "characters", 0, 0m, 300, "error", "bob"),
            ("tts", "elevenlabs", "characters", 200, 0.06m, 400, "ok", "cy"),
            ("tts", "espeak", "characters", 50, 0m, 10, "fallback", "bob"),
            ("tts", "espeak", "characters", 60, 0m, 20, "fallback", "ada"),
            ("tts", "espeak", "characters", 70, 0m, 30, "fallback", "cy"),
            ("email-delivery", "smtp-relay", "emails", 1, 0.000399m, 50, "ok", "ada"),
            ("email-delivery", "smtp-relay", "emails", 1, 0.000399m, 70, "ok", "cy"),
        };
        await using var connection = new NpgsqlConnection(connectionString);
        var now = DateTimeOffset.UtcNow;
        var i = 0;
        foreach (var r in rows)
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO usage_ledger (at, service, capability, provider, operation, unit, units, cost_usd, duration_ms, outcome, user_id, error)
                VALUES (@at, 'engagement', @Capability, @Provider, 'seed', @Unit, @Units, @Cost, @Ms, @Outcome, @User, CASE WHEN @Outcome = 'error' THEN 'HTTP 502' END)
                """,
                new { at = now.AddMinutes(-50 + (i++ * 5)), r.Capability, r.Provider, r.Unit, r.Units, r.Cost, r.Ms, r.Outcome, r.User });
        }
    }

    private static string Int(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Usd(decimal value) => "$" + value.ToString("0.000000", CultureInfo.InvariantCulture);

    private static string Ms(double? value) => value is { } v ? Math.Round(v, 3).ToString("0.0", CultureInfo.InvariantCulture) : "–";

    private static string TestId(string dom, string id)
    {
        var match = Regex.Match(dom, $"data-testid=\"{Regex.Escape(id)}\">([^<]*)<");
        Assert.True(match.Success, $"the page shows no {id}");
        return WebUtility.HtmlDecode(match.Groups[1].Value).Trim();
    }

    private static Dictionary<string, string> Row(string dom, string table, string key)
    {
        var tableMatch = Regex.Match(dom, $"<table id=\"{table}\">(.*?)</table>", RegexOptions.Singleline);
        Assert.True(tableMatch.Success, $"no table {table}");
        var row = Regex.Match(tableMatch.Groups[1].Value, $"<tr data-row=\"{Regex.Escape(key)}\">(.*?)</tr>", RegexOptions.Singleline);
        Assert.True(row.Success, $"table {table} has no row {key}");
        return CellPattern().Matches(row.Groups[1].Value)
            .ToDictionary(m => m.Groups[1].Value, m => WebUtility.HtmlDecode(TagPattern().Replace(m.Groups[2].Value, string.Empty)).Split(' ')[0].Trim());
    }

    [GeneratedRegex("<td[^>]*data-k=\"([^\"]+)\"[^>]*>(.*?)</td>", RegexOptions.Singleline)]
    private static partial Regex CellPattern();

    [GeneratedRegex("<[^>]+>")]
    private static partial Regex TagPattern();
}

/// <summary>Debian's headless Chromium, one fresh profile per run.</summary>
internal static class Chromium
{
    public static Task<string> DumpDomAsync(Uri url) => RunAsync(url, ["--dump-dom"]);

    /// <summary>Saves a screenshot under TestResults/ at the repository root and returns its path.</summary>
    public static async Task<string> ScreenshotAsync(Uri url, string name)
    {
        var dir = Path.Combine(RepositoryRoot(), "TestResults");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name);
        File.Delete(path);
        await RunAsync(url, [$"--screenshot={path}", "--window-size=1400,2200", "--hide-scrollbars"]);
        Assert.True(File.Exists(path), "chromium wrote no screenshot");
        return path;
    }

    private static async Task<string> RunAsync(Uri url, string[] mode)
    {
        var binary = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("chromium is not installed (apt-get install -y chromium).");
        var profile = Directory.CreateTempSubdirectory("sunaiva-chromium-");
        try
        {
            var info = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[]
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", $"--user-data-dir={profile.FullName}", "--virtual-time-budget=10000",
            }.Concat(mode).Append(url.ToString()))
            {
                info.ArgumentList.Add(arg);
            }

            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"chromium exited {process.ExitCode}: {await stderr}");
            return await stdout;
        }
        finally
        {
            profile.Delete(recursive: true);
        }
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Sunaiva.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? AppContext.BaseDirectory;
    }
}
