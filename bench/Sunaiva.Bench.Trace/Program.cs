using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Sunaiva.Bench.Trace;
using Sunaiva.Billing.Tests;
using Sunaiva.Testing;

// The trace of a Stripe webhook to the email it causes (issue 7): Billing and Engagement run as processes exporting OTLP to
// this program; one signed invoice.payment_failed per run goes Billing (inbox -> webhook:stripe -> outbox) -> Redis ->
// Engagement (bridge -> event:BillingMailHandler -> email.send -> SMTP to maildev). Prints span count, the span tree and
// the end-to-end time (webhook request start -> SMTP send span end).
// Usage: dotnet build -c Release bench/Sunaiva.Bench.Trace && dotnet run -c Release --no-build --project bench/Sunaiva.Bench.Trace [-- --runs 5 --warmup 1]
var runs = IntArg("--runs", 5);
var warmup = IntArg("--warmup", 1);
#if DEBUG
const string configuration = "Debug";
#else
const string configuration = "Release";
#endif
const string webhookSecret = "whsec_trace_bench_secret";
const string internalToken = "internal-trace-bench-token-0123456789";
const string dunningSubject = "Your Sunaiva payment did not go through";

var root = RepoPaths.Root;
var servers = new LocalServers { WithSmtp = true };
await servers.InitializeAsync();
ServiceProcess? billing = null;
ServiceProcess? engagement = null;
try
{
    await using var stripe = await FakeStripe.StartAsync();
    await using var otlp = await OtlpReceiver.StartAsync();
    var billingDb = LocalServers.NewDatabaseName("trace_billing");
    var engagementDb = LocalServers.NewDatabaseName("trace_engagement");
    var billingService = billing = ServiceProcess.Start(ServiceDll("Sunaiva.Billing"), "billing", LocalServers.FreePort(), otlp.Endpoint, new Dictionary<string, string>
    {
        ["ConnectionStrings__billingdb"] = servers.PostgresConnectionString(billingDb),
        ["ConnectionStrings__redis"] = servers.RedisConnectionString,
        ["Jwt__SigningKey"] = DevTokens.TestSigningKey,
        ["Stripe__SecretKey"] = "sk_test_trace",
        ["Stripe__WebhookSecret"] = webhookSecret,
        ["Stripe__ApiBase"] = stripe.BaseUrl,
        ["Stripe__Plans__plus-monthly__PriceId"] = StripeObjects.PriceId,
        ["Stripe__PayoutDayOfMonth"] = "0",
    });
    var engagementService = engagement = ServiceProcess.Start(ServiceDll("Sunaiva.Engagement"), "engagement", LocalServers.FreePort(), otlp.Endpoint, new Dictionary<string, string>
    {
        ["ConnectionStrings__engagementdb"] = servers.PostgresConnectionString(engagementDb),
        ["ConnectionStrings__redis"] = servers.RedisConnectionString,
        ["ConnectionStrings__smtp"] = servers.SmtpConnectionString!,
        ["Jwt__SigningKey"] = DevTokens.TestSigningKey,
        ["InternalEvents__Token"] = internalToken,
        ["OpsDashboard__Peers"] = string.Empty,
        // What the AppHost passes Engagement for its email links (unsubscribe, tracking).
        ["Email__PublicBaseUrl"] = "http://127.0.0.1",
        ["Email__SigningKey"] = "bench-email-signing-key-0123456789abcdef",
    });
    await Task.WhenAll(billingService.WaitAliveAsync(TimeSpan.FromSeconds(90)), engagementService.WaitAliveAsync(TimeSpan.FromSeconds(90)));
    await using var billingData = NpgsqlDataSource.Create(servers.PostgresConnectionString(billingDb));
    await using var engagementData = NpgsqlDataSource.Create(servers.PostgresConnectionString(engagementDb));
    using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };

    Console.WriteLine($"Sunaiva trace benchmark ({Environment.ProcessorCount} cores, {configuration}): Billing and Engagement as processes exporting OTLP/HTTP;");
    Console.WriteLine("Postgres, Redis and maildev local; Stripe faked over HTTP. Path: POST /webhooks/stripe (invoice.payment_failed) -> email in maildev.");
    Console.WriteLine();

    var results = new List<RunResult>();
    for (var i = 0; i < warmup + runs; i++)
    {
        var result = await RunOnceAsync(i);
        results.Add(result);
        var label = i < warmup ? "warm-up" : $"run {i - warmup + 1}";
        Console.WriteLine(result.Broken is null
            ? $"{label,-8}: {result.Spans.Count,3} spans ({result.Spans.Count(s => s.Scope == "Npgsql"),3} Npgsql)   webhook -> SMTP sent {result.EndToEndMs,7:N1} ms   -> last span {result.LastSpanMs,7:N1} ms   mail seen by the bench after {result.MailSeenMs,7:N1} ms"
            : $"{label,-8}: TRACE BROKEN: {result.Broken}");
    }

    var measured = results.Skip(warmup).ToList();
    Console.WriteLine();
    if (measured.Any(r => r.Broken is not null))
    {
        Console.WriteLine("The trace breaks; fix the hop named above.");
        PrintTree(measured.First(r => r.Broken is not null));
        return 1;
    }

    PrintTree(measured[0]);
    Console.WriteLine();
    var e2e = measured.Select(r => r.EndToEndMs).Order().ToArray();
    var counts = measured.Select(r => r.Spans.Count).Order().ToArray();
    Console.WriteLine($"Over {measured.Count} deliveries (after {warmup} warm-up):");
    Console.WriteLine($"  spans per trace            : {string.Join(", ", measured.Select(r => r.Spans.Count))} (services: {string.Join(", ", measured[0].Spans.Select(s => s.Service).Distinct())})");
    Console.WriteLine($"  end-to-end webhook -> SMTP : median {Median(e2e),7:N1} ms   max {e2e.Max(),7:N1} ms   min {e2e.Min(),7:N1} ms");
    Console.WriteLine("  stages (median offset from the webhook request's start):");
    foreach (var stage in measured[0].Stages.Keys)
    {
        var offsets = measured.Select(r => r.Stages[stage]).Order().ToArray();
        Console.WriteLine($"    {stage,-44} {Median(offsets),8:N1} ms   max {offsets.Max(),8:N1} ms");
    }

    return 0;

    async Task<RunResult> RunOnceAsync(int i)
    {
        var tag = $"{i}{Guid.NewGuid().ToString("N")[..6]}";
        var userId = $"user_trace_{tag}";
        var email = $"trace-{tag}@example.com";
        var customer = $"cus_trace{tag}";
        var subscription = $"sub_trace{tag}";
        var invoice = $"in_trace{tag}";

        // Engagement knows the user (as the conversation backend reports it).
        using (var signup = new HttpRequestMessage(HttpMethod.Post, engagementService.Url + "/internal/events")
        {
            Content = JsonContent.Create(new
            {
                id = $"evt_signup_{tag}",
                type = "user.signed_up",
                data = new { id = userId, email, name = "Ada Trace", language = "en", country = "GB", goals = new[] { "reflect daily" }, voice = "en-GB-female-1" },
            }),
        })
        {
            signup.Headers.Authorization = new AuthenticationHeaderValue("Bearer", internalToken);
            var answer = await http.SendAsync(signup);
            Require(answer.StatusCode == HttpStatusCode.Accepted, $"signup answered {(int)answer.StatusCode}: {await answer.Content.ReadAsStringAsync()}");
        }

        // Billing mirrors the user's active subscription (delivered as Stripe would).
        var sub = stripe.Put(StripeObjects.Subscription(subscription, customer, "active", userId));
        await DeliverAsync(StripeObjects.Event(stripe.NewId("evt"), "customer.subscription.created", sub, Now()), traceParent: null);
        await UntilAsync(async () =>
            await ScalarAsync<long>(billingData, "SELECT count(*) FROM billing_subscriptions WHERE stripe_subscription_id = @subscription AND user_id = @userId", new { subscription, userId }) == 1
            && await ScalarAsync<long>(engagementData, "SELECT count(*) FROM users WHERE id = @userId", new { userId }) == 1,
            "subscription mirrored and user known", TimeSpan.FromSeconds(30));
        // The welcome email is sent first, so it does not share the SMTP server with the delivery under test.
        await UntilAsync(async () => await MailArrivedAsync(email, subject: null), $"welcome email to {email}", TimeSpan.FromSeconds(60));

        // The delivery under test, with a W3C parent of the bench's own, so its trace id is known up front.
        stripe.Put(StripeObjects.Invoice(invoice, customer, subscription, "open", 0, 0, "usd", $"pi_trace{tag}", 0, attemptCount: 1));
        var traceId = ActivityTraceId.CreateRandom().ToHexString();
        var callerSpan = ActivitySpanId.CreateRandom().ToHexString();
        var eventId = stripe.NewId("evt");
        var watch = Stopwatch.StartNew();
        await DeliverAsync(StripeObjects.Event(eventId, "invoice.payment_failed", stripe.Get(invoice), Now()), $"00-{traceId}-{callerSpan}-01");
        await UntilAsync(async () => await MailArrivedAsync(email, dunningSubject), $"dunning email to {email}", TimeSpan.FromSeconds(60));
        var mailSeen = watch.Elapsed.TotalMilliseconds;

        // Spans are exported in batches (100 ms): wait for the last hop's span, then until nothing more arrives.
        string? broken = null;
        try
        {
            await UntilAsync(() => Task.FromResult(otlp.Trace(traceId).Any(s => s.Name == "work email.send")), "the email.send span in the trace", TimeSpan.FromSeconds(15));
        }
        catch (TimeoutException)
        {
            broken = DescribeBreak(otlp.Spans, traceId, eventId, invoice);
        }

        var settled = -1;
        while (otlp.Trace(traceId).Count is var n && n != settled)
        {
            settled = n;
            await Task.Delay(600);
        }

        // Redis has no spans: the hop between the services is read from the rows' own timestamps (same machine clock).
        var outboxId = $"payment.failed:{invoice}:1";
        var hops = new Dictionary<string, DateTime?>(StringComparer.Ordinal)
        {
            ["billing: outbox relay published to Redis"] = await ScalarAsync<DateTime?>(billingData, "SELECT published_at FROM outbox WHERE id = @outboxId", new { outboxId }),
            ["engagement: bridge stored the event as work"] = await ScalarAsync<DateTime?>(engagementData,
                "SELECT created_at FROM work_items WHERE key = @key", new { key = $"evt:{outboxId}:BillingMailHandler" }),
        };
        return RunResult.From(otlp.Trace(traceId), callerSpan, mailSeen, hops, broken);
    }

    async Task DeliverAsync(JsonObject stripeEvent, string? traceParent)
    {
        var payload = stripeEvent.ToJsonString();
        using var request = new HttpRequestMessage(HttpMethod.Post, billingService.Url + "/webhooks/stripe")
        {
            Content = new StringContent(payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", StripeObjects.Sign(payload, webhookSecret, Now()));
        if (traceParent is not null)
        {
            request.Headers.TryAddWithoutValidation("traceparent", traceParent);
        }

        var response = await http.SendAsync(request);
        Require(response.IsSuccessStatusCode, $"webhook answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }

    async Task<bool> MailArrivedAsync(string to, string? subject)
    {
        var list = JsonNode.Parse(await http.GetStringAsync(new Uri(servers.MaildevApi!, "api/email")))!.AsArray();
        return list.OfType<JsonNode>().Any(m => (subject is null || (string?)m["subject"] == subject)
            && m["to"]!.AsArray().Any(t => string.Equals((string?)t!["address"], to, StringComparison.OrdinalIgnoreCase)));
    }
}
finally
{
    if (billing is not null)
    {
        await billing.DisposeAsync();
    }

    if (engagement is not null)
    {
        await engagement.DisposeAsync();
    }

    await servers.DisposeAsync();
}

// Where the chain left the trace: the first hop whose span is not in it, and the trace it started instead.
static string DescribeBreak(IReadOnlyList<SpanRecord> all, string traceId, string eventId, string invoice)
{
    var hops = new (string Name, Func<SpanRecord, bool> Match)[]
    {
        ("webhook request (POST /webhooks/stripe)", s => s.TraceId == traceId && s.Kind == 2),
        ($"work webhook:stripe ({eventId})", s => s.Name == "work webhook:stripe" && s.Attribute("sunaiva.work.key") == $"webhook:stripe:{eventId}"),
        ("work event:BillingMailHandler (payment.failed)", s => s.Name == "work event:BillingMailHandler" && (s.Attribute("sunaiva.work.key") ?? string.Empty).Contains(invoice, StringComparison.Ordinal)),
    };
    foreach (var (name, match) in hops)
    {
        var span = all.FirstOrDefault(match);
        if (span is null)
        {
            return $"{name}: no span exported at all";
        }

        if (span.TraceId != traceId)
        {
            return $"{name}: started a new trace {span.TraceId} (parent {span.ParentSpanId ?? "none"}) instead of continuing {traceId}";
        }
    }

    return "the email.send span is not in the trace (the hop event:BillingMailHandler -> email.send)";
}

static long Now() => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

static double Median(double[] sorted) => sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;

static async Task<T> ScalarAsync<T>(NpgsqlDataSource data, string sql, object args)
{
    await using var connection = await data.OpenConnectionAsync();
    return (await connection.ExecuteScalarAsync<T>(sql, args))!;
}

static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan timeout)
{
    var watch = Stopwatch.StartNew();
    while (true)
    {
        try
        {
            if (await condition())
            {
                return;
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or HttpRequestException && watch.Elapsed < timeout)
        {
            // A table not migrated yet, maildev starting: try again.
        }

        if (watch.Elapsed > timeout)
        {
            throw new TimeoutException($"timed out waiting for {what}");
        }

        await Task.Delay(20);
    }
}

static void Require(bool condition, string message)
{
    if (!condition)
    {
        throw new InvalidOperationException(message);
    }
}

static void PrintTree(RunResult run)
{
    var spans = run.Spans;
    var origin = run.Root?.StartNanos ?? spans.Min(s => s.StartNanos);
    var ids = spans.Select(s => s.SpanId).ToHashSet();
    var children = spans.Where(s => s.ParentSpanId is not null && ids.Contains(s.ParentSpanId)).ToLookup(s => s.ParentSpanId!);
    Console.WriteLine($"Span tree of one delivery (trace {(spans.Count > 0 ? spans[0].TraceId : "?")}, {spans.Count} spans); start offset and duration in ms:");
    Console.WriteLine($"  {"start",8} {"duration",9}  {"service",-10} span");
    foreach (var top in spans.Where(s => s.ParentSpanId is null || !ids.Contains(s.ParentSpanId)).OrderBy(s => s.StartNanos))
    {
        Print(top, 0);
    }

    void Print(SpanRecord span, int depth)
    {
        var offset = ((long)span.StartNanos - (long)origin) / 1e6;
        Console.WriteLine($"  {offset,8:N1} {span.DurationMs,9:N1}  {span.Service,-10} {new string(' ', depth * 2)}{Describe(span)}");
        foreach (var child in children[span.SpanId].OrderBy(s => s.StartNanos))
        {
            Print(child, depth + 1);
        }
    }

    static string Describe(SpanRecord span)
    {
        if (span.Scope == "Npgsql")
        {
            var sql = span.Attribute("db.query.text") ?? span.Attribute("db.statement") ?? span.Name;
            sql = string.Join(' ', sql.Split((char[])[' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries));
            return "sql: " + (sql.Length > 70 ? sql[..70] + "..." : sql);
        }

        var status = span.Attribute("http.response.status_code") is { } code ? $" -> {code}" : string.Empty;
        return $"{span.Name}{status}  [{span.Scope}]";
    }
}

static int IntArg(string name, int fallback)
{
    var args = Environment.GetCommandLineArgs();
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

static string ServiceDll(string project) =>
    Path.Combine(RepoPaths.Root, project, "bin", configuration, "net10.0", project + ".dll");

/// <summary>One delivery's trace and the figures read from it.</summary>
internal sealed record RunResult(IReadOnlyList<SpanRecord> Spans, SpanRecord? Root, double EndToEndMs, double LastSpanMs, double MailSeenMs,
    IReadOnlyDictionary<string, double> Stages, string? Broken)
{
    public static RunResult From(IReadOnlyList<SpanRecord> spans, string callerSpan, double mailSeenMs, IReadOnlyDictionary<string, DateTime?> hops, string? broken)
    {
        var root = spans.FirstOrDefault(s => s.ParentSpanId == callerSpan);
        if (root is null || broken is not null)
        {
            return new RunResult(spans, root, double.NaN, double.NaN, mailSeenMs, new Dictionary<string, double>(), broken ?? "no server span for the webhook request");
        }

        double At(ulong nanos) => ((long)nanos - (long)root.StartNanos) / 1e6;
        double AtTime(DateTime? at) => at is { } t ? At((ulong)((DateTime.SpecifyKind(t, DateTimeKind.Utc) - DateTime.UnixEpoch).Ticks * 100)) : double.NaN;
        SpanRecord? First(Func<SpanRecord, bool> match) => spans.Where(match).OrderBy(s => s.StartNanos).FirstOrDefault();
        var smtp = First(s => s.Name == "email-delivery send");
        var stages = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["billing: webhook acknowledged (request end)"] = At(root.EndNanos),
            ["billing: work webhook:stripe starts"] = First(s => s.Name == "work webhook:stripe") is { } w ? At(w.StartNanos) : double.NaN,
            ["billing: work webhook:stripe ends (outbox)"] = First(s => s.Name == "work webhook:stripe") is { } we ? At(we.EndNanos) : double.NaN,
            [hops.Keys.First()] = AtTime(hops.Values.First()),
            [hops.Keys.Last()] = AtTime(hops.Values.Last()),
            ["engagement: work event:BillingMailHandler"] = First(s => s.Name == "work event:BillingMailHandler") is { } e ? At(e.StartNanos) : double.NaN,
            ["engagement: work email.send starts"] = First(s => s.Name == "work email.send") is { } m ? At(m.StartNanos) : double.NaN,
            ["engagement: SMTP send (email-delivery) ends"] = smtp is null ? double.NaN : At(smtp.EndNanos),
        };
        return new RunResult(spans, root, smtp is null ? double.NaN : At(smtp.EndNanos), At(spans.Max(s => s.EndNanos)), mailSeenMs, stages,
            smtp is null ? "no email-delivery send span in the trace" : null);
    }
}

/// <summary>Finds the repository root (the folder holding Sunaiva.sln) from the bench's output folder.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
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
}
