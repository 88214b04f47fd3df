using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Sunaiva.Testing;

namespace Sunaiva.Bench.Email;

/// <summary>
/// Segments: evaluation time of a segment of 100,000 and 1,000,000 members (Engagement's real endpoint
/// <c>GET /ops/email/segments/{segment}</c>: members joined with users, minus suppressed addresses) against a bare
/// count of the same members; and the lag of <c>user.active</c> from its acceptance (POST /internal/events) to the
/// committed segment change (leaving inactive-7), through outbox, Redis stream, bridge, work item and handler.
/// Engagement runs as its own process (the Release build of this checkout) on local Postgres and Redis.
/// </summary>
internal static class SegmentBench
{
    private const string InternalToken = "bench-internal-events-token-0123456789";

    public static async Task<int> RunAsync(string[] args)
    {
        int Int(string name, int fallback)
        {
            var i = Array.IndexOf(args, "--" + name);
            return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
        }

        var sizes = args.Contains("--small") ? new[] { 100_000 } : [100_000, 1_000_000];
        var lagEvents = Int("lag-events", 2000);
        var concurrency = Int("concurrency", 8);
        var dll = Path.Combine(FindRoot(), "Sunaiva.Engagement", "bin", "Release", "net10.0", "Sunaiva.Engagement.dll");
        if (!File.Exists(dll))
        {
            Console.Error.WriteLine($"{dll} not found: build with -c Release first.");
            return 1;
        }

        var servers = new LocalServers { WithSmtp = true };
        await servers.InitializeAsync();
        var database = LocalServers.NewDatabaseName("bench_segments");
        var port = LocalServers.FreePort();
        Process? engagement = null;
        try
        {
            engagement = Start(dll, port, servers, new()
            {
                ["ConnectionStrings__engagementdb"] = servers.PostgresConnectionString(database),
                ["ConnectionStrings__smtp"] = servers.SmtpConnectionString!,
                ["InternalEvents__Token"] = InternalToken,
                ["Email__PublicBaseUrl"] = "http://127.0.0.1",
                ["Email__SigningKey"] = "bench-email-signing-key-0123456789abcdef",
            });
            var url = $"http://127.0.0.1:{port}";
            await BenchSupport.WaitForAsync(url + "/alive");
            await using var data = NpgsqlDataSource.Create(servers.PostgresConnectionString(database));
            using var ops = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(2) };
            ops.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", DevTokens.For("bench-ops", ops: true));

            Console.WriteLine($"Sunaiva segments benchmark ({Environment.ProcessorCount} cores); Engagement (Release) as a process, Postgres and Redis local");
            var segmentFor = new Dictionary<int, string> { [100_000] = "inactive-14", [1_000_000] = "inactive-30" };
            foreach (var size in sizes)
            {
                var load = Stopwatch.StartNew();
                await LoadAsync(data, size, segmentFor[size]);
                load.Stop();
                var bare = new List<double>();
                var evaluated = new List<double>();
                var inProcess = new List<double>();
                long audience = 0;
                for (var run = 0; run < 6; run++)
                {
                    var b = Stopwatch.StartNew();
                    await using (var connection = await data.OpenConnectionAsync())
                    {
                        await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM segment_members WHERE segment = @s", new { s = segmentFor[size] });
                    }

                    b.Stop();
                    var e = Stopwatch.StartNew();
                    var report = await ops.GetFromJsonAsync<JsonObject>($"/ops/email/segments/{segmentFor[size]}");
                    e.Stop();
                    if (run == 0)
                    {
                        continue; // warm-up (plans, caches)
                    }

                    bare.Add(b.Elapsed.TotalMilliseconds);
                    evaluated.Add(e.Elapsed.TotalMilliseconds);
                    inProcess.Add(report!["evaluatedInMs"]!.GetValue<double>());
                    audience = report["audience"]!.GetValue<long>();
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  segment of {size,9:N0} members (loaded in {load.Elapsed.TotalSeconds:F0} s): bare count {Median(bare),8:F0} ms | audience via GET /ops/email/segments {Median(evaluated),8:F0} ms (query {Median(inProcess):F0} ms, {audience:N0} mailable) | ratio {Median(evaluated) / Median(bare),5:F2}"));
            }

            await LagAsync(data, url, lagEvents, concurrency);
            return 0;
        }
        finally
        {
            if (engagement is not null)
            {
                engagement.Kill(entireProcessTree: true);
                await engagement.WaitForExitAsync();
            }

            await servers.DisposeAsync();
        }
    }

    /// <summary>Users, their activity and the segment membership, written in bulk (as if events had put them there); 1 % suppressed.</summary>
    private static async Task LoadAsync(NpgsqlDataSource data, int size, string segment)
    {
        await using var connection = await data.OpenConnectionAsync();
        var prefix = segment + "-";
        await connection.ExecuteAsync(
            """
            INSERT INTO users (id, email, name, language, signed_up_at, last_active_at)
            SELECT @prefix || i, 'reader' || @prefix || i || '@example.com', 'Reader ' || i, 'en', now() - interval '90 days', now() - interval '40 days'
            FROM generate_series(1, @size) AS i;
            INSERT INTO user_engagement (user_id, last_active_at) SELECT @prefix || i, now() - interval '40 days' FROM generate_series(1, @size) AS i;
            INSERT INTO segment_members (segment, user_id, entered_at) SELECT @segment, @prefix || i, now() - interval '10 days' FROM generate_series(1, @size) AS i;
            INSERT INTO email_suppressions (address, category, reason, created_at)
            SELECT 'reader' || @prefix || i || '@example.com', '*', 'bench', now() FROM generate_series(1, @size, 100) AS i;
            ANALYZE users; ANALYZE segment_members; ANALYZE email_suppressions;
            """,
            new { prefix, size, segment }, commandTimeout: 600);
    }

    /// <summary>Users in inactive-7 come back (user.active through the real path); the lag to their committed segment exit.</summary>
    private static async Task LagAsync(NpgsqlDataSource data, string url, int events, int concurrency)
    {
        await using (var connection = await data.OpenConnectionAsync())
        {
            await connection.ExecuteAsync(
                """
                INSERT INTO users (id, email, name, language, signed_up_at, last_active_at)
                SELECT 'lag-' || i, 'lag' || i || '@example.com', 'Lag ' || i, 'en', now() - interval '20 days', now() - interval '8 days' FROM generate_series(1, @events) AS i;
                INSERT INTO user_engagement (user_id, last_active_at) SELECT 'lag-' || i, now() - interval '8 days' FROM generate_series(1, @events) AS i;
                INSERT INTO segment_members (segment, user_id, entered_at) SELECT 'inactive-7', 'lag-' || i, now() - interval '1 day' FROM generate_series(1, @events) AS i;
                """,
                new { events });
        }

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = concurrency }) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", InternalToken);
        var next = 0;
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) <= events)
            {
                var response = await http.PostAsJsonAsync("/internal/events", new { id = $"evt_lag_{i}", type = "user.active", data = new { id = $"lag-{i}" } });
                response.EnsureSuccessStatusCode();
            }
        }));
        var posted = wall.Elapsed;

        await using var read = await data.OpenConnectionAsync();
        var deadline = DateTime.UtcNow.AddMinutes(5);
        while (await read.ExecuteScalarAsync<long>("SELECT count(*) FROM segment_changes WHERE change = 'left' AND user_id LIKE 'lag-%'") < events)
        {
            if (DateTime.UtcNow > deadline)
            {
                Console.Error.WriteLine("not every segment exit was recorded within 5 minutes");
                return;
            }

            await Task.Delay(100);
        }

        var handled = wall.Elapsed;
        var lags = (await read.QueryAsync<double>(
            """
            SELECT extract(epoch FROM (c.recorded_at - e.received_at)) * 1000
            FROM segment_changes c JOIN internal_events e ON e.user_id = c.user_id AND e.type = 'user.active'
            WHERE c.change = 'left' AND c.user_id LIKE 'lag-%'
            """)).Order().ToArray();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  event-to-segment lag, {events:N0} user.active (posted in {posted.TotalSeconds:F1} s by {concurrency}, all applied after {handled.TotalSeconds:F1} s): p50 {BenchSupport.Percentile(lags, 0.50):F0} ms, p95 {BenchSupport.Percentile(lags, 0.95):F0} ms, max {lags[^1]:F0} ms"));
    }

    private static double Median(List<double> values) => BenchSupport.Percentile([.. values.Order()], 0.5);


    private static Process Start(string dll, int port, LocalServers servers, Dictionary<string, string> settings)
    {
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(dll);
        var env = info.Environment;
        env["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        env["ASPNETCORE_ENVIRONMENT"] = "Production";
        env["ConnectionStrings__redis"] = servers.RedisConnectionString;
        env["Jwt__SigningKey"] = DevTokens.TestSigningKey;
        env["Logging__LogLevel__Default"] = "Warning";
        foreach (var (key, value) in settings)
        {
            env[key] = value;
        }

        var process = Process.Start(info)!;
        process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) { Console.Error.WriteLine($"engagement! {line}"); } };
        process.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line && line.Contains("fail", StringComparison.OrdinalIgnoreCase)) { Console.Error.WriteLine($"engagement: {line}"); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Sunaiva.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("Sunaiva.sln not found");
    }
}
