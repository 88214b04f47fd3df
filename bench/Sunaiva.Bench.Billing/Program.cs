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

// Billing benchmark: webhook acks vs a bare endpoint, processing lag at 500 events/s, the highest rate whose lag p99
// stays under 1 s, payout run at scale.
// Usage: dotnet run -c Release --project bench/Sunaiva.Bench.Billing [-- --seconds 8 --rate 500 --lag-seconds 20
//        --search-seconds 10 --max-rate 4000 --influencers 10000 --entries 1000000 --processors N
//        --skip-acks --skip-search --skip-payouts --billing-dll PATH --connection-options "Npgsql=settings" --warmup 15
//        --billing-env NAME=VALUE --rounds 4 --event small|captured]
// --event captured: every delivery (to Billing and to the bare endpoint alike) is the size and shape of one Stripe sends: an
// event envelope around Stripe's subscription fixture (tests/Sunaiva.Testing/Fixtures/stripe), indented as Stripe delivers
// it (about 7 KB; the types stay the bench's own); the default is a small event of about 350 bytes.
// The ack figure alternates the bare endpoint and Billing in --rounds slices of --seconds / --rounds each (after one warm-up each).
// --probe: acks layer by layer (service pipeline, + body and signature, + storage), each with Billing's and Postgres's CPU per
// request and, where it writes, requests per Postgres commit; --probe-ack: the storage layer only; --serve: start and wait (for profilers).
// --billing-dll runs another build of Billing (e.g. an older commit's bin/Release/net10.0/Sunaiva.Billing.dll) under the
// same measurement: everything is measured over HTTP and in the database (stripe_events, a table before the durable work
// model and a view over webhook_inbox + work_items since).
if (BenchSupport.IntArg(args, "bare-server", 0) is > 0 and var bareServerPort)
{
    // The bench started again as the bare endpoint's own process (see BareEndpoint.StartProcessAsync).
    await using var served = await BareEndpoint.StartAsync(bareServerPort);
    await Task.Delay(Timeout.Infinite);
    return 0;
}

var options = BenchOptions.Parse(args);
LoadTest.WarmupSeconds = BenchSupport.IntArg(args, "warmup", 15);
var root = BenchSupport.RepositoryRoot();
var billingDll = options.BillingDll ?? Path.Combine(root, "Sunaiva.Billing", "bin", options.Configuration, "net10.0", "Sunaiva.Billing.dll");
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
// The ratio's base is a bare endpoint in a process of its own, as Billing is (the same loopback hop, scheduling and
// process boundary, so the ratio is what Billing's work costs); the one inside the bench's own process is printed too.
using var bareProcess = await BareEndpoint.StartProcessAsync();
await using var bare = await BareEndpoint.StartAsync(LocalServers.FreePort());
var billingPort = LocalServers.FreePort();
var database = LocalServers.NewDatabaseName("bench");
using var billing = StartBilling(billingDll, billingPort, servers, database, fakeStripe.BaseUrl, webhookSecret, options.Processors, options.ConnectionOptions);
try
{
    var billingUrl = $"http://127.0.0.1:{billingPort}";
    var cpu = new CpuMeter(billing, servers.PostgresPort);
    string CpuPer(int count, (TimeSpan Service, TimeSpan Postgres) before)
    {
        var (service, postgres) = cpu.Read();
        return $"CPU per event: billing {(service - before.Service).TotalMilliseconds / count:N3} ms, postgres {(postgres - before.Postgres).TotalMilliseconds / count:N3} ms";
    }

    await BenchSupport.WaitForAsync(billingUrl + "/alive");
    Console.WriteLine($"Sunaiva billing benchmark ({Environment.ProcessorCount} cores, {options.Configuration}); Postgres and Redis local, Stripe faked over HTTP");
    Console.WriteLine($"  billing: {billingDll} ({(File.Exists(Path.Combine(Path.GetDirectoryName(billingDll)!, "Sunaiva.Messaging.dll")) ? "durable work model" : "stripe_events inbox + WebhookProcessor")})");
    Console.WriteLine();
    if (args.Contains("--serve"))
    {
        // For outside load tools and profilers: print where everything is and keep it running until Enter.
        Console.WriteLine($"serving: billing {billingUrl} (pid {billing.Id}), bare {bare.Url}, webhook secret {webhookSecret}; Enter stops");
        await Task.Run(Console.ReadLine);
        return 0;
    }

    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Concurrency, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };

    // 1. Acknowledgements: signed events of a type the processor ignores, so the figure is the ack path itself.
    // Events belong to many Stripe customers (one per subscription), as real traffic does: the durable work model runs
    // one customer's events one at a time, so a bench of one customer would measure a single partition.
    var sequence = 0;
    var captured = (BenchSupport.StringArg(args, "event") ?? "small") switch
    {
        "small" => null,
        "captured" => new CapturedEvents(Path.Combine(root, "tests", "Sunaiva.Testing", "Fixtures", "stripe", "fixtures3.json")),
        var other => throw new ArgumentException($"--event {other}: small or captured"),
    };
    if (captured is not null)
    {
        Console.WriteLine($"  events: captured size, {Encoding.UTF8.GetByteCount(captured.Json("evt_bench_000000001", "bench.ack", "obj_1", "cus_ack_1", 1_800_000_000)):N0} bytes each (Stripe's subscription fixture, indented as delivered)");
        Console.WriteLine();
    }

    HttpRequestMessage SignedRequest(string url, string type, string objectId, string customer, string prefix = "evt_bench_")
    {
        var id = $"{prefix}{Interlocked.Increment(ref sequence):D9}";
        var payload = captured is null
            ? EventJson(id, type, objectId, customer, DateTimeOffset.UtcNow.ToUnixTimeSeconds())
            : captured.Json(id, type, objectId, customer, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(payload, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", Sign(payload, webhookSecret, DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        request.Options.Set(LoadTest.EventId, id);
        return request;
    }

    if (args.Contains("--probe") || args.Contains("--probe-ack"))
    {
        // Where an ack's time goes, layer by layer: the service pipeline alone (an unknown provider: 404 before any
        // body is read), + body and signature (a bad signature: 400, nothing stored), + storage (a real ack).
        await using var stats = NpgsqlDataSource.Create(servers.PostgresConnectionString(database));
        async Task<long> CommitsAsync()
        {
            await using var c = await stats.OpenConnectionAsync();
            return await c.ExecuteScalarAsync<long>("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()");
        }

        HttpRequestMessage BadSignature()
        {
            var request = SignedRequest(billingUrl + "/webhooks/stripe", "bench.ack", "obj_1", "cus_probe");
            request.Headers.Remove("Stripe-Signature");
            request.Headers.TryAddWithoutValidation("Stripe-Signature", "t=1,v1=00");
            return request;
        }

        var probeBase = 0.0;
        foreach (var (name, make) in new (string, Func<HttpRequestMessage>)[]
        {
            ("bare, in the bench process", () => SignedRequest(bare.Url, "bench.ack", "obj_1", "cus_ack_1")),
            ("bare endpoint, own process", () => SignedRequest(bareProcess.Url, "bench.ack", "obj_1", "cus_ack_1")),
            ("pipeline only (404)", () => SignedRequest(billingUrl + "/webhooks/nope", "bench.ack", "obj_1", "cus_ack_1")),
            ("+ body + signature (400)", BadSignature),
            ("+ store (ack)", () => SignedRequest(billingUrl + "/webhooks/stripe", "bench.ack", "obj_1", $"cus_ack_{Random.Shared.Next(4096)}")),
        })
        {
            if (args.Contains("--probe-ack") && !name.StartsWith("+ store", StringComparison.Ordinal))
            {
                continue;
            }

            var probeCpu = cpu.Read();
            var bareCpu = bareProcess.Cpu();
            var commitsBefore = await CommitsAsync();
            var r = await LoadTest.ClosedLoopAsync(http, make, options.Concurrency, options.Seconds);
            await Task.Delay(1500); // Postgres publishes its statistics within a second
            var commits = (await CommitsAsync() - commitsBefore) / (double)Math.Max(1, r.Errors + r.Acked.Count);
            // CPU per request over warm-up and window (every request answered is counted: acked or an error status).
            var perRequest = name.StartsWith("bare", StringComparison.Ordinal) ? string.Empty : "  " + CpuPer(r.Errors + r.Acked.Count, probeCpu).Replace("per event", "per request", StringComparison.Ordinal);
            if (name.StartsWith("bare endpoint", StringComparison.Ordinal))
            {
                probeBase = r.PerSecond;
                perRequest = $"  CPU per request: bare {(bareProcess.Cpu() - bareCpu).TotalMilliseconds / Math.Max(1, r.Errors + r.Acked.Count):N3} ms";
            }
            else if (name.StartsWith("+ store", StringComparison.Ordinal) && probeBase > 0)
            {
                perRequest += $", {r.PerSecond / probeBase:P1} of the bare endpoint (own process)";
            }

            Console.WriteLine($"  {name,-26}: {r.PerSecond,9:N0}/s  p50 {r.P50,7:N2} ms  p99 {r.P99,7:N2} ms{perRequest}{(commits > 0.001 ? $", {1 / commits:N1} requests per commit" : string.Empty)}");
        }

        return 0;
    }

    if (!options.SkipAcks)
    {
    var inProcessResult = await LoadTest.ClosedLoopAsync(http, () => SignedRequest(bare.Url, "bench.ack", "obj_1", "cus_ack_1"), options.Concurrency, options.Seconds);
    // The ratio's two sides in alternating slices (--rounds, 4 by default) after one warm-up each: this machine's speed
    // drifts by a fifth and more from one minute to the next (the bare endpoint alone gave 17,000-29,000/s in consecutive
    // runs), and slices side by side share the drift that two windows a minute apart do not.
    var ackCpu = cpu.Read();
    var bareSlices = new List<LoadResult>();
    var ackSlices = new List<LoadResult>();
    var slice = Math.Max(1, options.Seconds / options.Rounds);
    for (var round = 0; round < options.Rounds; round++)
    {
        var warmup = round == 0 ? LoadTest.WarmupSeconds : 0;
        bareSlices.Add(await LoadTest.ClosedLoopAsync(http, () => SignedRequest(bareProcess.Url, "bench.ack", "obj_1", "cus_ack_1"), options.Concurrency, slice, warmup));
        ackSlices.Add(await LoadTest.ClosedLoopAsync(http, () => SignedRequest(billingUrl + "/webhooks/stripe", "bench.ack", "obj_1", $"cus_ack_{Random.Shared.Next(4096)}"), options.Concurrency, slice, warmup));
    }

    var bareResult = LoadResult.Combine(bareSlices);
    var ackResult = LoadResult.Combine(ackSlices);
    var sliceRatios = ackSlices.Zip(bareSlices, (a, b) => a.PerSecond / b.PerSecond).ToList();
    Console.WriteLine($"Signed webhook acks ({options.Concurrency} concurrent senders; Billing and the bare endpoint in {options.Rounds} alternating slices of {slice} s each, after a warm-up of {LoadTest.WarmupSeconds} s each):");
    Console.WriteLine($"  bare ASP.NET endpoint (200 only) : {bareResult.PerSecond,9:N0} req/s   p50 {bareResult.P50,7:N2} ms   p99 {bareResult.P99,7:N2} ms   errors {bareResult.Errors}   (its own process, as Billing)");
    Console.WriteLine($"  the same in the bench's process  : {inProcessResult.PerSecond,9:N0} req/s   p50 {inProcessResult.P50,7:N2} ms   p99 {inProcessResult.P99,7:N2} ms   (no second process; Billing reaches {ackResult.PerSecond / inProcessResult.PerSecond:P1} of it)");
    Console.WriteLine($"  POST /webhooks/stripe            : {ackResult.PerSecond,9:N0} acks/s  p50 {ackResult.P50,7:N2} ms   p99 {ackResult.P99,7:N2} ms   errors {ackResult.Errors}");
    Console.WriteLine($"  ratio billing / bare             : {ackResult.PerSecond / bareResult.PerSecond:P1} of the throughput, p99 x{ackResult.P99 / bareResult.P99:N1}   (slice by slice {sliceRatios.Min():P1} to {sliceRatios.Max():P1})");
    await using (var acked = NpgsqlDataSource.Create(servers.PostgresConnectionString(database)))
    {
        // Nothing acknowledged that is not stored: every id answered 2xx must be a row now (Billing keeps running).
        var ids = ackResult.Acked.ToArray();
        await using var connection = await acked.OpenConnectionAsync();
        var stored = await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM stripe_events WHERE id = ANY(@ids)", new { ids });
        Console.WriteLine($"  acked {ids.Length:N0} deliveries, {stored:N0} of them stored ({(stored == ids.Length ? "every ack stored" : $"{ids.Length - stored:N0} ACKED BUT NOT STORED")}); "
            + CpuPer(ids.Length, ackCpu).Replace("per event", "per ack (a type no handler takes: no processing)", StringComparison.Ordinal));

        // The same with a type that is handled (re-read from Stripe + upsert), its processing competing for the same cores.
        var handledCpu = cpu.Read();
        var handled = await LoadTest.ClosedLoopAsync(http, () =>
        {
            var n = Random.Shared.Next(2000);
            return SignedRequest(billingUrl + "/webhooks/stripe", "customer.subscription.updated", $"sub_bench_{n:D5}", $"cus_bench_{n:D5}", "evt_ackh_");
        }, options.Concurrency, options.Seconds);
        var handledIds = handled.Acked.ToArray();
        var handledStored = await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM stripe_events WHERE id = ANY(@handledIds)", new { handledIds });
        Console.WriteLine($"  handled type, processing alongside: {handled.PerSecond,9:N0} acks/s  p50 {handled.P50,7:N2} ms   p99 {handled.P99,7:N2} ms   errors {handled.Errors}  "
            + $"({handled.PerSecond / bareResult.PerSecond:P1} of bare; {handledStored:N0} of {handledIds.Length:N0} acks stored)");
        var handledDrained = await DrainAsync(acked, TimeSpan.FromMinutes(3));
        Console.WriteLine($"  its backlog {(handledDrained ? "drained" : "NOT drained in 3 min")}; {CpuPer(handledIds.Length, handledCpu)} (ack + processing)");
    }

    Console.WriteLine();
    }

    if (args.Contains("--drain-test"))
    {
        await using var drainData = NpgsqlDataSource.Create(servers.PostgresConnectionString(database));
        await WaitIgnoredAsync(drainData);
        await using (var c = await drainData.OpenConnectionAsync())
        {
            var isTable = await c.ExecuteScalarAsync<char>("SELECT relkind FROM pg_class WHERE relname = 'stripe_events'") == 'r';
            await c.ExecuteAsync(isTable
                ? """
                  INSERT INTO stripe_events (id, type, object_id, created, payload, source, next_attempt_at, received_at)
                  SELECT 'evt_drain_' || n, 'customer.subscription.updated', 'sub_bench_' || lpad((n % 2000)::text, 5, '0'), now(), '{}', 'bench', now() + interval '2 seconds', now()
                  FROM generate_series(1, 5000) n
                  """
                : """
                  INSERT INTO webhook_inbox (provider, id, type, object_id, created, payload, payload_sha256, source, received_at)
                  SELECT 'stripe', 'evt_drain_' || n, 'customer.subscription.updated', 'sub_bench_' || lpad((n % 2000)::text, 5, '0'), now(), '{}', '', 'bench', now()
                  FROM generate_series(1, 5000) n;
                  INSERT INTO work_items (kind, key, partition_key, payload, max_attempts, run_at, created_at)
                  SELECT 'webhook:stripe', 'webhook:stripe:evt_drain_' || n, 'stripe:cus_bench_' || lpad((n % 2000)::text, 5, '0'), 'evt_drain_' || n, 85, now() + interval '2 seconds', now()
                  FROM generate_series(1, 5000) n;
                  """);
        }

        await Task.Delay(2000);
        var drainWatch = Stopwatch.StartNew();
        var drainCpu = cpu.Read();
        var statsBefore = args.Contains("--pg-stats") ? await PgStatsAsync(drainData) : null;
        if (args.Contains("--explain"))
        {
            // The plan of the runner's claim while the backlog drains (in a transaction rolled back: it takes row locks),
            // with the setting WorkStore.ClaimAsync uses since the durable work model (harmless against older builds).
            await Task.Delay(3000);
            await using var c = await drainData.OpenConnectionAsync();
            await using var tx = await c.BeginTransactionAsync();
            await c.ExecuteAsync("SET LOCAL enable_bitmapscan = off", transaction: tx);
            var plan = await c.QueryAsync<string>(
                """
                EXPLAIN (ANALYZE, BUFFERS) SELECT id, partition_key FROM work_items
                WHERE status = 'pending' AND run_at <= now() AND (lease_until IS NULL OR lease_until < now())
                ORDER BY run_at, id LIMIT 64 FOR UPDATE SKIP LOCKED
                """, transaction: tx);
            Console.WriteLine(string.Join(Environment.NewLine, plan));
            await tx.RollbackAsync();
        }

        await DrainAsync(drainData, TimeSpan.FromMinutes(3));
        if (statsBefore is not null)
        {
            foreach (var (name, after) in await PgStatsAsync(drainData))
            {
                var delta = after - statsBefore.GetValueOrDefault(name);
                if (delta != 0)
                {
                    Console.WriteLine($"  {name,-48} {delta / 5000.0,10:N2} per event");
                }
            }
        }

        Console.WriteLine($"Drain of 5000 queued events: {drainWatch.Elapsed.TotalSeconds:N1} s = {5000 / drainWatch.Elapsed.TotalSeconds:N0} events/s; {CpuPer(5000, drainCpu)}");
        return 0;
    }

    // 2. Processing lag at a steady rate: subscription events whose handler re-reads Stripe and upserts the mirror.
    await using var data = NpgsqlDataSource.Create(servers.PostgresConnectionString(database));
    await WaitIgnoredAsync(data);
    var step = 0;
    string steadyCpu = string.Empty;
    async Task<(OpenLoopResult Sent, double[] Lags, bool Drained)> SteadyAsync(int rate, int seconds)
    {
        var prefix = $"evt_lag{++step:D2}_";
        var before = cpu.Read();
        var sent = await LoadTest.OpenLoopAsync(http, () =>
        {
            var n = Random.Shared.Next(2000);
            return SignedRequest(billingUrl + "/webhooks/stripe", "customer.subscription.updated", $"sub_bench_{n:D5}", $"cus_bench_{n:D5}", prefix);
        }, rate, seconds);
        var drained = await DrainAsync(data, TimeSpan.FromSeconds(60));
        steadyCpu = CpuPer(sent.Sent, before);
        return (sent, (await LagQueries.QueryLagsAsync(data, prefix)).Order().ToArray(), drained);
    }

    // Warm-up of the processing path (re-read from Stripe, upsert) at half the rate, not reported: the steady state is measured.
    await SteadyAsync(Math.Max(50, options.Rate / 2), LoadTest.WarmupSeconds);
    var (steady, lags, steadyDrained) = await SteadyAsync(options.Rate, options.LagSeconds);
    Console.WriteLine($"Processing lag at {options.Rate} events/s for {options.LagSeconds} s (customer.subscription.updated: re-read from Stripe + upsert):");
    Console.WriteLine($"  offered {steady.Sent} events ({steady.Sent / steady.Elapsed.TotalSeconds:N0}/s achieved, {steady.Errors} send errors), processed {lags.Length}, drained {(steadyDrained ? "yes" : "NO")}");
    Console.WriteLine($"  lag (stored -> handled) p50 {BenchSupport.Percentile(lags, 0.50),8:N1} ms   p99 {BenchSupport.Percentile(lags, 0.99),8:N1} ms   max {lags.LastOrDefault(),8:N1} ms");
    Console.WriteLine($"  {steadyCpu} (ack + processing)");
    Console.WriteLine();

    if (!options.SkipSearch)
    {
        // Steps up from the steady rate until p99 >= 1 s (or the backlog does not drain), then bisects twice.
        Console.WriteLine($"Highest rate with lag p99 < 1 s ({options.SearchSeconds} s per step):");
        bool Holds((OpenLoopResult Sent, double[] Lags, bool Drained) r) =>
            r.Drained && r.Sent.Errors == 0 && r.Lags.Length == r.Sent.Sent && BenchSupport.Percentile(r.Lags, 0.99) < 1000;
        async Task<bool> TryRateAsync(int rate)
        {
            var r = await SteadyAsync(rate, options.SearchSeconds);
            var holds = Holds(r);
            Console.WriteLine($"  {rate,6:N0}/s offered ({r.Sent.Sent / r.Sent.Elapsed.TotalSeconds,6:N0}/s sent, {r.Sent.Errors} errors): processed {r.Lags.Length,6:N0}, "
                + $"p50 {BenchSupport.Percentile(r.Lags, 0.50),8:N1} ms  p99 {BenchSupport.Percentile(r.Lags, 0.99),8:N1} ms{(r.Drained ? string.Empty : "  (not drained)")}  {(holds ? "holds" : "misses")}");
            return holds;
        }

        var good = BenchSupport.Percentile(lags, 0.99) < 1000 && steadyDrained ? options.Rate : 0;
        var bad = 0;
        for (var rate = good == 0 ? Math.Max(50, options.Rate / 2) : (int)(options.Rate * 1.5); rate <= options.MaxRate; rate = (int)(rate * 1.5))
        {
            if (await TryRateAsync(rate))
            {
                good = rate;
            }
            else
            {
                bad = rate;
                break;
            }

            if (good == 0)
            {
                break;
            }
        }

        for (var i = 0; i < 2 && bad > 0 && bad - good > Math.Max(50, good / 10); i++)
        {
            var mid = (good + bad) / 2;
            if (await TryRateAsync(mid))
            {
                good = mid;
            }
            else
            {
                bad = mid;
            }
        }

        Console.WriteLine($"  highest rate holding p99 < 1 s: {(good == 0 ? "none tried" : $"{good:N0} events/s")}{(bad == 0 ? $" (every step up to --max-rate {options.MaxRate:N0} held)" : $" ({bad:N0}/s missed)")}");
        Console.WriteLine();
    }

    if (options.SkipPayouts)
    {
        Console.WriteLine($"Total benchmark time {total.Elapsed.TotalSeconds:N0} s");
        return 0;
    }

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

static string EventJson(string id, string type, string objectId, string customer, long created) =>
    "{\"id\":\"" + id + "\",\"object\":\"event\",\"api_version\":\"2026-10-28.endive\",\"created\":" + created.ToString(CultureInfo.InvariantCulture)
    + ",\"livemode\":false,\"pending_webhooks\":1,\"request\":{\"id\":null,\"idempotency_key\":null},\"type\":\"" + type
    + "\",\"data\":{\"object\":{\"id\":\"" + objectId + "\",\"object\":\"subscription\",\"status\":\"active\",\"customer\":\"" + customer + "\"}}}";

static string Sign(string payload, string secret, long timestamp) =>
    $"t={timestamp},v1={Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{payload}")))}";


static Process StartBilling(string dll, int port, LocalServers servers, string database, string stripeBase, string webhookSecret, int processors, string? connectionOptions)
{
    var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
    info.ArgumentList.Add(dll);
    var env = info.Environment;
    env["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
    env["ASPNETCORE_ENVIRONMENT"] = "Production";
    // The test servers' Postgres runs with synchronous_commit off (fast tests); Billing's sessions turn it on, as the AppHost's
    // Postgres has it: an ack waits for its commit's WAL write, so "every ack stored" holds through a Postgres crash.
    env["ConnectionStrings__billingdb"] = servers.PostgresConnectionString(database) + ";Maximum Pool Size=50;Options=-c synchronous_commit=on"
        + (connectionOptions is null ? string.Empty : ";" + connectionOptions);
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
        // Before the durable work model: Stripe's own processor; since: the service's work runner.
        env["Stripe__WebhookConcurrency"] = processors.ToString(CultureInfo.InvariantCulture);
        env["Work__Concurrency"] = processors.ToString(CultureInfo.InvariantCulture);
    }
    env["Logging__LogLevel__Default"] = "Warning";
    env["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning";
    // --billing-env NAME=VALUE (repeatable): a runtime switch for Billing alone, not for the bench or its other processes.
    BenchSupport.AddEnvArgs(Environment.GetCommandLineArgs(), "billing-env", env);

    var process = Process.Start(info)!;
    process.OutputDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line && (Environment.GetEnvironmentVariable("BENCH_SHOW_LOG") is not null || line.Contains("fail", StringComparison.OrdinalIgnoreCase))) { Console.Error.WriteLine("billing: " + line); } };
    process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) { Console.Error.WriteLine("billing! " + line); } };
    process.BeginOutputReadLine();
    process.BeginErrorReadLine();
    return process;
}

static async Task<Dictionary<string, double>> PgStatsAsync(NpgsqlDataSource data)
{
    await using var connection = await data.OpenConnectionAsync();
    var stats = new Dictionary<string, double>();
    foreach (var row in await connection.QueryAsync<(string Name, double Value)>(
        """
        SELECT 'db.' || k, v FROM pg_stat_database d,
          LATERAL (VALUES ('xact_commit', xact_commit::float8), ('xact_rollback', xact_rollback::float8), ('tup_returned', tup_returned::float8),
                          ('tup_fetched', tup_fetched::float8), ('blks_hit', blks_hit::float8)) AS x(k, v)
        WHERE datname = current_database()
        UNION ALL
        SELECT relname || '.' || k, v FROM pg_stat_user_tables t,
          LATERAL (VALUES ('seq_scan', seq_scan::float8), ('seq_tup_read', seq_tup_read::float8), ('idx_scan', idx_scan::float8),
                          ('idx_tup_fetch', idx_tup_fetch::float8), ('n_tup_upd', n_tup_upd::float8), ('n_tup_hot_upd', n_tup_hot_upd::float8),
                          ('n_tup_ins', n_tup_ins::float8), ('n_tup_del', n_tup_del::float8)) AS x(k, v)
        """))
    {
        stats[row.Name] = row.Value;
    }

    return stats;
}

static async Task WaitIgnoredAsync(NpgsqlDataSource data)
{
    while (await AnyPendingAsync(data))
    {
        await Task.Delay(200);
    }
}

static async Task<bool> DrainAsync(NpgsqlDataSource data, TimeSpan timeout)
{
    var deadline = DateTime.UtcNow + timeout;
    while (DateTime.UtcNow < deadline)
    {
        if (!await AnyPendingAsync(data))
        {
            return true;
        }

        await Task.Delay(100);
    }

    return false;
}

// Polled ten times a second while the service works, so it must cost next to nothing: a count over the whole stripe_events
// view (a join of the inbox and work items) cost Postgres more than the processing it watched.
static async Task<bool> AnyPendingAsync(NpgsqlDataSource data)
{
    await using var connection = await data.OpenConnectionAsync();
    var isTable = await connection.ExecuteScalarAsync<char>("SELECT relkind FROM pg_class WHERE relname = 'stripe_events'") == 'r';
    return await connection.ExecuteScalarAsync<bool>(isTable
        ? "SELECT EXISTS (SELECT 1 FROM stripe_events WHERE status = 'pending')"
        : "SELECT EXISTS (SELECT 1 FROM work_items WHERE status = 'pending' AND kind = 'webhook:stripe')");
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

internal sealed record BenchOptions(
    int Seconds, int Concurrency, int Rate, int LagSeconds, int Influencers, int Entries, string Configuration, int Processors, bool SkipAcks,
    int SearchSeconds, int MaxRate, bool SkipSearch, bool SkipPayouts, string? BillingDll, string? ConnectionOptions, int Rounds)
{
    public static BenchOptions Parse(string[] args)
    {
        int Int(string name, int fallback) => BenchSupport.IntArg(args, name, fallback);

#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif

        return new BenchOptions(
            Int("seconds", 8), Int("concurrency", 32), Int("rate", 500), Int("lag-seconds", 20), Int("influencers", 10_000), Int("entries", 1_000_000), configuration,
            Int("processors", 0), args.Contains("--skip-acks"), Int("search-seconds", 10), Int("max-rate", 4000), args.Contains("--skip-search"), args.Contains("--skip-payouts"),
            BenchSupport.StringArg(args, "billing-dll") is { } dll ? Path.GetFullPath(dll) : null,
            BenchSupport.StringArg(args, "connection-options"), Math.Max(1, Int("rounds", 4)));
    }
}

internal sealed record LoadResult(double PerSecond, double P50, double P99, int Errors, IReadOnlyCollection<string> Acked, double[] Latencies, int Seconds)
{
    /// <summary>Slices of one target as one window: their requests over their seconds, percentiles over all their latencies.</summary>
    public static LoadResult Combine(IReadOnlyList<LoadResult> slices)
    {
        var latencies = slices.SelectMany(s => s.Latencies).Order().ToArray();
        var seconds = slices.Sum(s => s.Seconds);
        return new LoadResult(latencies.Length / (double)seconds, LoadTest.At(latencies, 0.5), LoadTest.At(latencies, 0.99), slices.Sum(s => s.Errors),
            slices.SelectMany(s => s.Acked).ToArray(), latencies, seconds);
    }
}

internal sealed record OpenLoopResult(int Sent, int Errors, TimeSpan Elapsed);

internal static class LoadTest
{
    /// <summary>The event id a request carries, so the ids acknowledged can be checked against what was stored.</summary>
    public static readonly HttpRequestOptionsKey<string> EventId = new("bench-event-id");

    /// <summary>Load before the measured window of a closed loop (--warmup, default 15 s).</summary>
    public static int WarmupSeconds { get; set; } = 5;

    /// <summary>Concurrency senders, each sending the next request when the last answered; the warm-up is not counted.</summary>
    public static async Task<LoadResult> ClosedLoopAsync(HttpClient http, Func<HttpRequestMessage> next, int concurrency, int seconds, int? warmupSeconds = null)
    {
        // Both targets get the same warm-up: a service's code runs unoptimized until the JIT's tiers catch up (seconds
        // on 2 busy cores for Billing's larger path), and the figure is the service's steady state, not its start.
        var latencies = new ConcurrentBag<double>();
        var acked = new ConcurrentBag<string>();
        var errors = 0;
        var warmUntil = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * (warmupSeconds ?? WarmupSeconds));
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
                    else if (request.Options.TryGetValue(EventId, out var id))
                    {
                        acked.Add(id);
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
        return new LoadResult(sorted.Length / (double)seconds, At(sorted, 0.5), At(sorted, 0.99), errors, acked, sorted, seconds);
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

        var offered = Stopwatch.GetElapsedTime(start);
        await Task.WhenAll(sends);
        return new OpenLoopResult(total, errors, offered);
    }

    public static double At(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}

internal static class LagQueries
{
    public static async Task<IEnumerable<double>> QueryLagsAsync(NpgsqlDataSource data, string idPrefix)
    {
        await using var connection = await data.OpenConnectionAsync();
        return await connection.QueryAsync<double>(
            """
            SELECT (EXTRACT(EPOCH FROM (processed_at - received_at)) * 1000)::float8 FROM stripe_events
            WHERE type = 'customer.subscription.updated' AND processed_at IS NOT NULL AND starts_with(id, @idPrefix)
            """,
            new { idPrefix });
    }
}

/// <summary>A bare endpoint that only answers 200, for the ratio.</summary>
internal sealed class BareEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;

    private BareEndpoint(WebApplication app, string url) => (_app, Url) = (app, url);

    public string Url { get; }

    public static async Task<BareEndpoint> StartAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapPost("/", () => Results.Ok());
        app.MapGet("/alive", () => Results.Ok());
        await app.StartAsync();
        return new BareEndpoint(app, $"http://127.0.0.1:{port}/");
    }

    /// <summary>The same endpoint in a process of its own: this bench started again with <c>--bare-server PORT</c>.</summary>
    public static async Task<BareProcess> StartProcessAsync()
    {
        var port = LocalServers.FreePort();
        var self = Environment.ProcessPath ?? "dotnet";
        var info = new ProcessStartInfo(self) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            info.ArgumentList.Add(typeof(BareEndpoint).Assembly.Location);
        }

        info.Environment["DOTNET_gcServer"] = "1"; // as Billing (a web project) runs
        info.ArgumentList.Add("--bare-server");
        info.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
        var process = Process.Start(info) ?? throw new InvalidOperationException("the bare endpoint's process did not start");
        var url = $"http://127.0.0.1:{port}/";
        await BenchSupport.WaitForAsync(url + "alive");
        return new BareProcess(process, url);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

internal sealed class BareProcess(Process process, string url) : IDisposable
{
    public string Url { get; } = url;

    public TimeSpan Cpu()
    {
        process.Refresh();
        return process.TotalProcessorTime;
    }

    public void Dispose()
    {
        process.Kill(entireProcessTree: true);
        process.Dispose();
    }
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
        // sub_bench_N belongs to cus_bench_N, the customer its events name.
        app.MapGet("/v1/subscriptions/{id}", (string id) => Results.Text(
            subscriptionJson.Replace("sub_1Pgc6rB7WZ01zgkWNy0Cn5nw", id, StringComparison.Ordinal)
                .Replace("cus_QXg1o8vcGmoR32", id.StartsWith("sub_bench_", StringComparison.Ordinal) ? "cus_bench_" + id["sub_bench_".Length..] : "cus_QXg1o8vcGmoR32", StringComparison.Ordinal),
            "application/json"));
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

/// <summary>
/// CPU time spent by the service under test and by its Postgres (postmaster, live backends and reaped ones): a figure per
/// event that does not depend on how busy the rest of the machine is, unlike rates and latencies.
/// </summary>
internal sealed class CpuMeter(Process service, int postgresPort)
{
    public (TimeSpan Service, TimeSpan Postgres) Read()
    {
        service.Refresh();
        if (service.HasExited)
        {
            throw new InvalidOperationException($"the service under test exited with code {service.ExitCode}");
        }

        return (service.TotalProcessorTime, BenchSupport.PostgresCpu(postgresPort));
    }
}

/// <summary>
/// Events the size and shape Stripe delivers: the fixture's subscription inside an event envelope, indented as Stripe sends
/// it. Serialized once with markers that each request replaces, so the load generator's cost per request stays small.
/// </summary>
internal sealed class CapturedEvents
{
    private const string Id = "@@ID@@", Type = "@@TYPE@@", ObjectId = "@@OBJECT@@", Customer = "@@CUSTOMER@@", Created = "1111111111";
    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };
    private readonly string _template;

    public CapturedEvents(string fixturesPath)
    {
        var data = JsonNode.Parse(File.ReadAllText(fixturesPath))!["resources"]!["subscription"]!.DeepClone().AsObject();
        data["id"] = ObjectId;
        data["customer"] = Customer;
        data["status"] = "active";
        var envelope = new JsonObject
        {
            ["id"] = Id,
            ["object"] = "event",
            ["api_version"] = "2026-10-28.endive",
            ["created"] = long.Parse(Created, CultureInfo.InvariantCulture),
            ["data"] = new JsonObject { ["object"] = data, ["previous_attributes"] = new JsonObject { ["status"] = "incomplete" } },
            ["livemode"] = false,
            ["pending_webhooks"] = 1,
            ["request"] = new JsonObject { ["id"] = null, ["idempotency_key"] = null },
            ["type"] = Type,
        };
        _template = envelope.ToJsonString(Indented);
    }

    public string Json(string id, string type, string objectId, string customer, long created) =>
        new StringBuilder(_template)
            .Replace(Id, id).Replace(Type, type).Replace(ObjectId, objectId).Replace(Customer, customer)
            .Replace(Created, created.ToString(CultureInfo.InvariantCulture))
            .ToString();
}
