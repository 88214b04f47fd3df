using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;
using Sunaiva.Testing;

// Billing benchmark: webhook acks vs a bare endpoint, processing lag at 500 events/s, payout run at scale.
// Usage: dotnet run -c Release --project bench/Sunaiva.Bench.Billing [-- --seconds 8 --rate 500 --lag-seconds 20 --influencers 10000 --entries 1000000]
var options = BenchOptions.Parse(args);
var root = FindRoot();
var billingDll = Path.Combine(root, "Sunaiva.Billing", "bin", options.Configuration, "net10.0", "Sunaiva.Billing.dll");
if (!File.Exists(billingDll))
{
    Console.Error.WriteLine($"{billingDll} not found: build with -c {options.Configuration} first.");
    return 1;
}

const string webhookSecret = "whsec_bench_secret";
var total = Stopwatch.StartNew();
var servers = new LocalServers();
await servers.InitializeAsync();
await using var fakeStripe = await FakeStripeServer.StartAsync();
await using var bare = await BareEndpoint.StartAsync();
var billingPort = LocalServers.FreePort();
var database = LocalServers.NewDatabaseName("bench");
using var billing = StartBilling(billingDll, billingPort, servers, database, fakeStripe.BaseUrl, webhookSecret, options.Processors);
try
{
    var billingUrl = $"http://127.0.0.1:{billingPort}";
    await WaitForAsync(billingUrl + "/alive");
    Console.WriteLine($"Sunaiva billing benchmark ({Environment.ProcessorCount} cores, {options.Configuration}); Postgres and Redis local, Stripe faked over HTTP");
    Console.WriteLine();

    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Concurrency, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };

    // 1. Acknowledgements: signed events of a type the processor ignores, so the figure is the ack path itself.
    var sequence = 0;
    HttpRequestMessage SignedRequest(string url, string type, string objectId)
    {
        var id = $"evt_bench_{Interlocked.Increment(ref sequence):D9}";
        var payload = EventJson(id, type, objectId, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", Sign(payload, webhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        return request;
    }

    if (!options.SkipAcks)
    {
    var bareResult = await LoadTest.ClosedLoopAsync(http, () => SignedRequest(bare.Url, "bench.ack", "obj_1"), options.Concurrency, options.Seconds);
    var ackResult = await LoadTest.ClosedLoopAsync(http, () => SignedRequest(billingUrl + "/webhooks/stripe", "bench.ack", "obj_1"), options.Concurrency, options.Seconds);
    Console.WriteLine($"Signed webhook acks ({options.Concurrency} concurrent senders, {options.Seconds} s each):");
    Console.WriteLine($"  bare ASP.NET endpoint (200 only) : {bareResult.PerSecond,9:N0} req/s   p50 {bareResult.P50,7:N2} ms   p99 {bareResult.P99,7:N2} ms   errors {bareResult.Errors}");
    Console.WriteLine($"  POST /webhooks/stripe            : {ackResult.PerSecond,9:N0} acks/s  p50 {ackResult.P50,7:N2} ms   p99 {ackResult.P99,7:N2} ms   errors {ackResult.Errors}");
    Console.WriteLine($"  ratio billing / bare             : {ackResult.PerSecond / bareResult.PerSecond:P1} of the throughput, p99 x{ackResult.P99 / bareResult.P99:N1}");
    Console.WriteLine();
    }

    if (args.Contains("--drain-test"))
    {
        await using var drainData = NpgsqlDataSource.Create(servers.PostgresConnectionString(database));
        await WaitIgnoredAsync(drainData);
        await using (var c = await drainData.OpenConnectionAsync())
        {
            await c.ExecuteAsync(
                """
                INSERT INTO stripe_events (id, type, object_id, created, payload, source, next_attempt_at, received_at)
                SELECT 'evt_drain_' || n, 'customer.subscription.updated', 'sub_bench_' || (n % 2000), now(), '{}', 'bench', now() + interval '2 seconds', now()
                FROM generate_series(1, 5000) n
                """);
        }

        await Task.Delay(2000);
        var drainWatch = Stopwatch.StartNew();
        await DrainAsync(drainData, TimeSpan.FromMinutes(3));
        Console.WriteLine($"Drain of 5000 queued events: {drainWatch.Elapsed.TotalSeconds:N1} s = {5000 / drainWatch.Elapsed.TotalSeconds:N0} events/s");
        return 0;
    }

    // 2. Processing lag at a steady rate: subscription events whose handler re-reads Stripe and upserts the mirror.
    await using var data = NpgsqlDataSource.Create(servers.PostgresConnectionString(database));
    await WaitIgnoredAsync(data);
    var sent = await LoadTest.OpenLoopAsync(http, () => SignedRequest(billingUrl + "/webhooks/stripe", "customer.subscription.updated",
        $"sub_bench_{Random.Shared.Next(2000):D5}"), options.Rate, options.LagSeconds);
    var drained = await DrainAsync(data, TimeSpan.FromSeconds(60));
    var lags = (await LagQueries.QueryLagsAsync(data)).Order().ToArray();
    Console.WriteLine($"Processing lag at {options.Rate} events/s for {options.LagSeconds} s (customer.subscription.updated: re-read from Stripe + upsert):");
    Console.WriteLine($"  offered {sent.Sent} events ({sent.Sent / (double)options.LagSeconds:N0}/s achieved, {sent.Errors} send errors), processed {lags.Length}, drained {(drained ? "yes" : "NO")}");
    Console.WriteLine($"  lag (stored -> handled) p50 {Percentile(lags, 0.50),8:N1} ms   p99 {Percentile(lags, 0.99),8:N1} ms   max {lags.LastOrDefault(),8:N1} ms");
    Console.WriteLine();

    // 3. Payout run at scale.
    var seed = Stopwatch.StartNew();
    await SeedPayoutsAsync(data, options.Influencers, options.Entries);
    seed.Stop();
    var token = DevTokens.For("bench-ops", ops: true);
    using var run = new HttpRequestMessage(HttpMethod.Post, billingUrl + "/ops/billing/payouts/run") { Content = new StringContent("{\"period\":\"2026-10\"}", Encoding.UTF8, "application/json") };
    run.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
    var runWatch = Stopwatch.StartNew();
    using var longHttp = new HttpClient { Timeout = TimeSpan.FromMinutes(10) };
    var response = await longHttp.SendAsync(run);
    runWatch.Stop();
    var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    Console.WriteLine($"Payout run: {options.Influencers:N0} influencers, {options.Entries:N0} ledger entries (seeded in {seed.Elapsed.TotalSeconds:N1} s):");
    Console.WriteLine($"  HTTP {(int)response.StatusCode} in {runWatch.Elapsed.TotalSeconds:N2} s: sent {body["sent"]} transfers ({(long?)body["sentUsd"] / 100m:N2} USD), carried over {body["carriedOver"]}, held {body["held"]}, failed {body["failed"]}, unknown {body["unknown"]}; fake Stripe saw {fakeStripe.Transfers} transfer requests");
    var again = Stopwatch.StartNew();
    using var rerun = new HttpRequestMessage(HttpMethod.Post, billingUrl + "/ops/billing/payouts/run") { Content = new StringContent("{\"period\":\"2026-10\"}", Encoding.UTF8, "application/json") };
    rerun.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
    var rerunBody = JsonNode.Parse(await (await longHttp.SendAsync(rerun)).Content.ReadAsStringAsync())!;
    Console.WriteLine($"  second run of the same period: {again.Elapsed.TotalSeconds:N2} s, sent {rerunBody["sent"]}, already paid {rerunBody["alreadyPaid"]}; fake Stripe transfers still {fakeStripe.Transfers}");
    Console.WriteLine();
    Console.WriteLine($"Total benchmark time {total.Elapsed.TotalSeconds:N0} s");
    return 0;
}
finally
{
    if (!billing.HasExited)
    {
        billing.Kill(entireProcessTree: true);
        await billing.WaitForExitAsync();
    }

    await servers.DisposeAsync();
}

static string EventJson(string id, string type, string objectId, long created) =>
    "{\"id\":\"" + id + "\",\"object\":\"event\",\"api_version\":\"2026-10-28.endive\",\"created\":" + created.ToString(CultureInfo.InvariantCulture)
    + ",\"livemode\":false,\"pending_webhooks\":1,\"request\":{\"id\":null,\"idempotency_key\":null},\"type\":\"" + type
    + "\",\"data\":{\"object\":{\"id\":\"" + objectId + "\",\"object\":\"subscription\",\"status\":\"active\",\"customer\":\"cus_bench\"}}}";

static string Sign(string payload, string secret, long timestamp) =>
    $"t={timestamp},v1={Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{payload}")))}";

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

static Process StartBilling(string dll, int port, LocalServers servers, string database, string stripeBase, string webhookSecret, int processors)
{
    var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
    info.ArgumentList.Add(dll);
    var env = info.Environment;
    env["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
    env["ASPNETCORE_ENVIRONMENT"] = "Production";
    env["ConnectionStrings__billingdb"] = servers.PostgresConnectionString(database) + ";Maximum Pool Size=50";
    env["ConnectionStrings__redis"] = servers.RedisConnectionString;
    env["Jwt__SigningKey"] = DevTokens.TestSigningKey;
    env["Stripe__SecretKey"] = "sk_test_bench";
    env["Stripe__WebhookSecret"] = webhookSecret;
    env["Stripe__ApiBase"] = stripeBase;
    env["Stripe__Plans__plus-monthly__PriceId"] = "price_1PgafmB7WZ01zgkW6dKueIc5";
    env["Stripe__PayoutDayOfMonth"] = "0";
    env["Stripe__PayoutConcurrency"] = "8";
    if (processors > 0)
    {
        env["Stripe__WebhookConcurrency"] = processors.ToString(CultureInfo.InvariantCulture);
    }
    env["Logging__LogLevel__Default"] = "Warning";
    env["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning";
    var process = Process.Start(info)!;
    process.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line && line.Contains("fail", StringComparison.OrdinalIgnoreCase)) { Console.Error.WriteLine("billing: " + line); } };
    process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) { Console.Error.WriteLine("billing! " + line); } };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    return process;
}

static async Task WaitForAsync(string url)
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
        catch (HttpRequestException)
        {
        }
        catch (TaskCanceledException)
        {
        }

        if (DateTime.UtcNow > deadline)
        {
            throw new TimeoutException("billing did not start");
        }

        await Task.Delay(200);
    }
}

static async Task WaitIgnoredAsync(NpgsqlDataSource data)
{
    while (await data.CreateCommand("SELECT COUNT(*) FROM stripe_events WHERE status = 'pending'").ExecuteScalarAsync() is long n && n > 0)
    {
        await Task.Delay(200);
    }
}

static async Task<bool> DrainAsync(NpgsqlDataSource data, TimeSpan timeout)
{
    var deadline = DateTime.UtcNow + timeout;
    while (DateTime.UtcNow < deadline)
    {
        if (await data.CreateCommand("SELECT COUNT(*) FROM stripe_events WHERE status = 'pending'").ExecuteScalarAsync() is long n && n == 0)
        {
            return true;
        }

        await Task.Delay(100);
    }

    return false;
}

static async Task SeedPayoutsAsync(NpgsqlDataSource data, int influencers, int entries)
{
    await using var connection = await data.OpenConnectionAsync();
    // Every 10th influencer ends below the 50 USD minimum, every 50th cannot receive payouts.
    await connection.ExecuteAsync(
        """
        INSERT INTO influencers (id, user_id, referral_code, stripe_account_id, country, payouts_enabled, disabled_reason, created_at, updated_at)
        SELECT 'inf_' || i, 'user_inf_' || i, 'CODE' || i, 'acct_bench' || i, 'US', i % 50 <> 0, CASE WHEN i % 50 = 0 THEN 'requirements.past_due' END, now(), now()
        FROM generate_series(1, @influencers) i
        """,
        new { influencers }, commandTimeout: 300);
    await connection.ExecuteAsync(
        """
        INSERT INTO commission_entries (referral_code, kind, idempotency_key, user_id, invoice_id, charge_id, currency, amount, amount_usd, rate, available_at, created_at)
        SELECT 'CODE' || (1 + (n % @influencers)), CASE WHEN n % 40 = 0 THEN 'refund' ELSE 'commission' END, 'bench:' || n, 'user_' || n, 'in_' || n, 'ch_' || n, 'usd',
               CASE WHEN (1 + (n % @influencers)) % 10 = 0 THEN 1 WHEN n % 40 = 0 THEN -120 ELSE 200 END,
               CASE WHEN (1 + (n % @influencers)) % 10 = 0 THEN 1 WHEN n % 40 = 0 THEN -120 ELSE 200 END,
               0.2, now() - interval '40 days', now() - interval '40 days'
        FROM generate_series(1, @entries) n
        """,
        new { influencers, entries }, commandTimeout: 600);
    await connection.ExecuteAsync("ANALYZE commission_entries; ANALYZE influencers;");
}

static string FindRoot()
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

internal sealed record BenchOptions(int Seconds, int Concurrency, int Rate, int LagSeconds, int Influencers, int Entries, string Configuration, int Processors, bool SkipAcks)
{
    public static BenchOptions Parse(string[] args)
    {
        int Int(string name, int fallback)
        {
            var i = Array.IndexOf(args, "--" + name);
            return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
        }

#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        return new BenchOptions(Int("seconds", 8), Int("concurrency", 32), Int("rate", 500), Int("lag-seconds", 20), Int("influencers", 10_000), Int("entries", 1_000_000), configuration, Int("processors", 0), args.Contains("--skip-acks"));
    }
}

internal sealed record LoadResult(double PerSecond, double P50, double P99, int Errors);

internal sealed record OpenLoopResult(int Sent, int Errors);

internal static class LoadTest
{
    /// <summary>Concurrency senders, each sending the next request when the last answered; 1 s warm-up not counted.</summary>
    public static async Task<LoadResult> ClosedLoopAsync(HttpClient http, Func<HttpRequestMessage> next, int concurrency, int seconds)
    {
        var latencies = new ConcurrentBag<double>();
        var errors = 0;
        var warmUntil = Stopwatch.GetTimestamp() + Stopwatch.Frequency;
        var stopAt = warmUntil + (Stopwatch.Frequency * seconds);
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (true)
            {
                var started = Stopwatch.GetTimestamp();
                if (started >= stopAt)
                {
                    return;
                }

                using var request = next();
                try
                {
                    using var response = await http.SendAsync(request);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                }

                if (started >= warmUntil)
                {
                    latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
            }
        }));
        var sorted = latencies.Order().ToArray();
        return new LoadResult(sorted.Length / (double)seconds, At(sorted, 0.5), At(sorted, 0.99), errors);
    }

    /// <summary>Sends at a fixed rate regardless of answers (an open loop), for the given time.</summary>
    public static async Task<OpenLoopResult> OpenLoopAsync(HttpClient http, Func<HttpRequestMessage> next, int rate, int seconds)
    {
        var sends = new List<Task>();
        var errors = 0;
        var start = Stopwatch.GetTimestamp();
        var total = rate * seconds;
        for (var i = 0; i < total; i++)
        {
            var due = start + (long)(i * (Stopwatch.Frequency / (double)rate));
            var wait = due - Stopwatch.GetTimestamp();
            if (wait > Stopwatch.Frequency / 1000)
            {
                await Task.Delay(TimeSpan.FromSeconds(wait / (double)Stopwatch.Frequency));
            }

            sends.Add(Task.Run(async () =>
            {
                using var request = next();
                try
                {
                    using var response = await http.SendAsync(request);
                    if (!response.IsSuccessStatusCode)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                }
            }));
        }

        await Task.WhenAll(sends);
        return new OpenLoopResult(total, errors);
    }

    private static double At(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}

internal static class LagQueries
{
    public static async Task<IEnumerable<double>> QueryLagsAsync(NpgsqlDataSource data)
    {
        await using var connection = await data.OpenConnectionAsync();
        return await connection.QueryAsync<double>(
            "SELECT (EXTRACT(EPOCH FROM (processed_at - received_at)) * 1000)::float8 FROM stripe_events WHERE type = 'customer.subscription.updated' AND processed_at IS NOT NULL");
    }
}

/// <summary>A bare endpoint that only answers 200, for the ratio.</summary>
internal sealed class BareEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;

    private BareEndpoint(WebApplication app, string url) => (_app, Url) = (app, url);

    public string Url { get; }

    public static async Task<BareEndpoint> StartAsync()
    {
        var port = LocalServers.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapPost("/", () => Results.Ok());
        await app.StartAsync();
        return new BareEndpoint(app, $"http://127.0.0.1:{port}/");
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

/// <summary>Stripe stand-in: subscriptions and transfers from Stripe's own fixtures.</summary>
internal sealed class FakeStripeServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _transfers;

    private FakeStripeServer(WebApplication app, string url) => (_app, BaseUrl) = (app, url);

    public string BaseUrl { get; }

    public int Transfers => _transfers;

    public static async Task<FakeStripeServer> StartAsync()
    {
        var subscription = StripeFixtures.Get("subscription");
        subscription["status"] = "active";
        subscription["metadata"] = new JsonObject { ["user_id"] = "user_bench" };
        var subscriptionJson = subscription.ToJsonString();
        var transferTemplate = StripeFixtures.Get("transfer");

        var port = LocalServers.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new FakeStripeServer(app, $"http://127.0.0.1:{port}");
        app.MapGet("/v1/subscriptions/{id}", (string id) => Results.Text(subscriptionJson.Replace("sub_1Pgc6rB7WZ01zgkWNy0Cn5nw", id, StringComparison.Ordinal), "application/json"));
        app.MapPost("/v1/transfers", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            Interlocked.Increment(ref server._transfers);
            var transfer = transferTemplate.DeepClone().AsObject();
            transfer["id"] = "tr_" + Guid.NewGuid().ToString("N")[..16];
            transfer["amount"] = long.Parse(form["amount"].ToString(), CultureInfo.InvariantCulture);
            transfer["destination"] = form["destination"].ToString();
            return Results.Text(transfer.ToJsonString(), "application/json");
        });
        await app.StartAsync();
        return server;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
