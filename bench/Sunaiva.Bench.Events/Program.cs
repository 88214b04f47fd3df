using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Dapper;
using Npgsql;
using Sunaiva.Testing;

// Events between services, end to end: Engagement (producer) accepts user.signed_up on POST /internal/events and writes it
// to its outbox in the same transaction; the event crosses the Redis stream to Voice (consumer), whose handler stores the
// user's voice preference. Measured: events/s from the first publish until Voice's handler ran for every event, and the lag
// of each event from its outbox write (Engagement's outbox.occurred_at) to its handling (Voice's voice_preferences.updated_at,
// written by the handler). Both are read from the databases, so any build of the two services is measured the same way.
// Usage: dotnet run -c Release --project bench/Sunaiva.Bench.Events [-- --events 5000 --concurrency 32 --rate 0 --build-root PATH]
// --rate 0 publishes as fast as --concurrency senders can; --rate N publishes N events/s (an open loop).
// --build-root runs the services built in another checkout (e.g. an older commit's worktree built with -c Release).
var options = EventsOptions.Parse(args);
var root = BenchSupport.RepositoryRoot();
var buildRoot = options.BuildRoot ?? root;
string Dll(string service) => Path.Combine(buildRoot, service, "bin", options.Configuration, "net10.0", service + ".dll");
foreach (var service in new[] { "Sunaiva.Engagement", "Sunaiva.Voice" })
{
    if (!File.Exists(Dll(service)))
    {
        Console.Error.WriteLine($"{Dll(service)} not found: build with -c {options.Configuration} first.");
        return 1;
    }
}

const string internalToken = "bench-internal-events-token-0123456789";
var total = Stopwatch.StartNew();
var servers = new LocalServers { WithSmtp = true };
await servers.InitializeAsync();
var engagementDb = LocalServers.NewDatabaseName("bench_engagement");
var voiceDb = LocalServers.NewDatabaseName("bench_voice");
var engagementPort = LocalServers.FreePort();
var voicePort = LocalServers.FreePort();
var processes = new List<Process>();
try
{
    processes.Add(StartService(Dll("Sunaiva.Engagement"), engagementPort, new()
    {
        ["ConnectionStrings__engagementdb"] = servers.PostgresConnectionString(engagementDb) + ";Maximum Pool Size=50",
        ["ConnectionStrings__smtp"] = servers.SmtpConnectionString!,
        ["InternalEvents__Token"] = internalToken,
        // What the AppHost passes Engagement for its email links (unsubscribe, tracking).
        ["Email__PublicBaseUrl"] = "http://127.0.0.1",
        ["Email__SigningKey"] = "bench-email-signing-key-0123456789abcdef",
    }, servers));
    processes.Add(StartService(Dll("Sunaiva.Voice"), voicePort, new()
    {
        ["ConnectionStrings__voicedb"] = servers.PostgresConnectionString(voiceDb) + ";Maximum Pool Size=50",
    }, servers));
    var engagementUrl = $"http://127.0.0.1:{engagementPort}";
    await BenchSupport.WaitForAsync(engagementUrl + "/alive");
    await BenchSupport.WaitForAsync($"http://127.0.0.1:{voicePort}/alive");
    Console.WriteLine($"Sunaiva events benchmark ({Environment.ProcessorCount} cores, {options.Configuration}); Postgres, Redis and maildev local");
    Console.WriteLine($"  services from {buildRoot} ({(File.Exists(Path.Combine(Path.GetDirectoryName(Dll("Sunaiva.Voice"))!, "Sunaiva.Messaging.dll")) ? "durable work model: outbox -> OutboxRelay -> stream -> EventStreamBridge -> work_items -> WorkRunner" : "outbox -> OutboxRelay -> stream -> EventConsumer")})");
    Console.WriteLine();

    await using var engagementData = NpgsqlDataSource.Create(servers.PostgresConnectionString(engagementDb));
    await using var voiceData = NpgsqlDataSource.Create(servers.PostgresConnectionString(voiceDb));
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Concurrency }) { Timeout = TimeSpan.FromSeconds(30) };
    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", internalToken);

    // Warm-up (JIT, pools, consumer group): not counted.
    var warm = await PublishAsync(http, engagementUrl, "warm", 200, options.Concurrency, 0);
    if (!await WaitHandledAsync(voiceData, "user_warm_", warm.Accepted, TimeSpan.FromSeconds(60)))
    {
        Console.Error.WriteLine("warm-up events were not all handled within 60 s");
        return 1;
    }

    var started = DateTime.UtcNow;
    var published = await PublishAsync(http, engagementUrl, "run", options.Events, options.Concurrency, options.Rate);
    var handled = await WaitHandledAsync(voiceData, "user_run_", published.Accepted, TimeSpan.FromSeconds(options.TimeoutSeconds));
    Dictionary<string, DateTime> occurred;
    await using (var connection = await engagementData.OpenConnectionAsync())
    {
        occurred = (await connection.QueryAsync<(string User, DateTime At)>(
            "SELECT payload->>'id', occurred_at FROM outbox WHERE type = 'user.signed_up' AND starts_with(payload->>'id', 'user_run_')"))
            .ToDictionary(r => r.User, r => r.At);
    }

    List<(string User, DateTime At)> handledAt;
    await using (var connection = await voiceData.OpenConnectionAsync())
    {
        handledAt = (await connection.QueryAsync<(string User, DateTime At)>(
            "SELECT user_id, updated_at FROM voice_preferences WHERE starts_with(user_id, 'user_run_')")).ToList();
    }

    var lags = handledAt.Where(h => occurred.ContainsKey(h.User)).Select(h => (h.At - occurred[h.User]).TotalMilliseconds).Order().ToArray();
    var first = occurred.Values.DefaultIfEmpty(started).Min();
    var last = handledAt.Select(h => h.At).DefaultIfEmpty(started).Max();
    var span = (last - first).TotalSeconds;

    Console.WriteLine($"user.signed_up Engagement -> Voice, {options.Events:N0} events, {(options.Rate > 0 ? $"offered at {options.Rate:N0}/s" : $"{options.Concurrency} concurrent publishers")}:");
    Console.WriteLine($"  published {published.Accepted:N0} (202) at {published.Accepted / published.Elapsed.TotalSeconds:N0}/s, {published.Errors} errors; handled {handledAt.Count:N0}{(handled ? string.Empty : " (NOT ALL: timed out)")}");
    Console.WriteLine($"  throughput first outbox write -> last handled: {handledAt.Count / span:N0} events/s ({span:N2} s)");
    Console.WriteLine($"  lag (outbox write -> handled) p50 {BenchSupport.Percentile(lags, 0.50),8:N1} ms   p99 {BenchSupport.Percentile(lags, 0.99),8:N1} ms   max {lags.LastOrDefault(),8:N1} ms");
    Console.WriteLine();
    Console.WriteLine($"Total benchmark time {total.Elapsed.TotalSeconds:N0} s");
    return handled ? 0 : 2;
}
finally
{
    foreach (var process in processes.Where(p => !p.HasExited))
    {
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

    await servers.DisposeAsync();
}

static async Task<(int Accepted, int Errors, TimeSpan Elapsed)> PublishAsync(HttpClient http, string baseUrl, string tag, int count, int concurrency, int rate)
{
    var next = -1;
    var accepted = 0;
    var errors = 0;
    var watch = Stopwatch.StartNew();
    async Task SendAsync(int i)
    {
        var id = $"{tag}_{i:D7}";
        try
        {
            using var response = await http.PostAsJsonAsync(baseUrl + "/internal/events", new
            {
                id = $"evt_bench_{id}",
                type = "user.signed_up",
                data = new { id = $"user_{id}", email = $"{id}@example.com", name = "Ada Bench", language = "en", country = "GB", goals = new[] { "reflect daily" }, voice = "en-GB-female-1" },
            });
            if (response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref accepted);
            }
            else
            {
                Interlocked.Increment(ref errors);
            }
        }
        catch (HttpRequestException)
        {
            Interlocked.Increment(ref errors);
        }
    }

    if (rate > 0)
    {
        var sends = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            var wait = TimeSpan.FromSeconds(i / (double)rate) - watch.Elapsed;
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait);
            }

            sends.Add(SendAsync(i));
        }

        await Task.WhenAll(sends);
    }
    else
    {
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            for (var i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                await SendAsync(i);
            }
        }));
    }

    return (accepted, errors, watch.Elapsed);
}

static async Task<bool> WaitHandledAsync(NpgsqlDataSource voice, string prefix, int expected, TimeSpan timeout)
{
    var deadline = DateTime.UtcNow + timeout;
    while (DateTime.UtcNow < deadline)
    {
        await using var connection = await voice.OpenConnectionAsync();
        if (await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM voice_preferences WHERE starts_with(user_id, @prefix)", new { prefix }) >= expected)
        {
            return true;
        }

        await Task.Delay(100);
    }

    return false;
}


static Process StartService(string dll, int port, Dictionary<string, string> settings, LocalServers servers)
{
    var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
    info.ArgumentList.Add(dll);
    var env = info.Environment;
    env["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
    env["ASPNETCORE_ENVIRONMENT"] = "Production";
    env["ConnectionStrings__redis"] = servers.RedisConnectionString;
    env["Jwt__SigningKey"] = DevTokens.TestSigningKey;
    env["Logging__LogLevel__Default"] = "Warning";
    env["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning";
    foreach (var (key, value) in settings)
    {
        env[key] = value;
    }

    var name = Path.GetFileNameWithoutExtension(dll);
    var process = Process.Start(info)!;
    process.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line && line.Contains("fail", StringComparison.OrdinalIgnoreCase)) { Console.Error.WriteLine($"{name}: {line}"); } };
    process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) { Console.Error.WriteLine($"{name}! {line}"); } };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    return process;
}

internal sealed record EventsOptions(int Events, int Concurrency, int Rate, int TimeoutSeconds, string Configuration, string? BuildRoot)
{
    public static EventsOptions Parse(string[] args)
    {
        int Int(string name, int fallback) => BenchSupport.IntArg(args, name, fallback);

#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        return new EventsOptions(Int("events", 5000), Int("concurrency", 32), Int("rate", 0), Int("timeout-seconds", 180), configuration,
            BenchSupport.StringArg(args, "build-root") is { } buildRoot ? Path.GetFullPath(buildRoot) : null);
    }
}
