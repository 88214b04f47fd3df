using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Xunit.Abstractions;

namespace Sunaiva.AppHost.Tests;

/// <summary>
/// kill -9 of each dependency under a steady load of signups and uploads. Callers get a success or a 503, never
/// a 500 or a hang; the dependency comes back on its own; afterwards every acknowledged upload downloads with its
/// SHA-256 and every acknowledged signup has exactly one welcome email. The figures are printed
/// (<c>dotnet test tests/Sunaiva.AppHost.Tests --filter FaultInjectionTests --logger "console;verbosity=detailed"</c>).
/// </summary>
[Collection(SunaivaAppCollection.Name)]
public sealed class FaultInjectionTests(SunaivaAppFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(ResourceNames.Postgres)]
    [InlineData(ResourceNames.Redis)]
    [InlineData(ResourceNames.Storage)]
    public async Task Killed_dependency_under_load_answers_503_or_success_recovers_and_loses_nothing(string dependency)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(8));
        var load = new Load(fixture, Guid.NewGuid().ToString("N")[..6]);
        using var stopLoad = new CancellationTokenSource();
        var workers = load.Start(workersPerKind: 2, stopLoad.Token);

        await Task.Delay(TimeSpan.FromSeconds(3), deadline.Token);
        var clock = Stopwatch.StartNew();
        load.MarkFault();
        var pid = Faults.Kill(fixture, dependency);
        await Faults.WaitRecoveredAsync(fixture, dependency, pid, deadline.Token);
        var dependencyBack = clock.Elapsed;
        await load.WaitForSuccessAfterFaultAsync(deadline.Token);
        var callersBack = clock.Elapsed;
        await Task.Delay(TimeSpan.FromSeconds(3), deadline.Token);
        await stopLoad.CancelAsync();
        await Task.WhenAll(workers);

        var uploads = await VerifyUploadsAsync(load, deadline.Token);
        var mail = await VerifyWelcomeEmailsAsync(load, deadline.Token);

        var figures =
            $"fault {dependency}: requests {load.Outcomes.Count}, acknowledged {load.Signups.Count} signups + {load.Uploads.Count} uploads, "
            + $"503 {load.Outcomes.Count(o => o.Status == 503)}, other failures {load.Failures.Count}, "
            + $"uploads lost {uploads.Lost} / corrupted {uploads.Corrupted}, welcome emails lost {mail.Lost} / duplicated {mail.Duplicated}, "
            + $"dependency healthy after {dependencyBack.TotalSeconds:F1} s, callers served again after {callersBack.TotalSeconds:F1} s";
        output.WriteLine(figures);
        Console.WriteLine(figures);

        Assert.True(load.Failures.IsEmpty, "answers other than success or 503: " + string.Join(", ", load.Failures.Take(10)));
        Assert.NotEmpty(load.Signups);
        Assert.NotEmpty(load.Uploads);
        Assert.Equal(0, uploads.Lost);
        Assert.Equal(0, uploads.Corrupted);
        Assert.Equal(0, mail.Lost);
        Assert.Equal(0, mail.Duplicated);
    }

    private async Task<(int Lost, int Corrupted)> VerifyUploadsAsync(Load load, CancellationToken ct)
    {
        int lost = 0, corrupted = 0;
        foreach (var upload in load.Uploads)
        {
            using var media = Faults.RawClient(fixture, ResourceNames.Media, upload.User);
            var body = await Eventually.Get(
                async () =>
                {
                    var response = await media.GetAsync($"/files/{upload.Id}/content", ct);
                    return (response.StatusCode, Bytes: response.IsSuccessStatusCode ? await response.Content.ReadAsByteArrayAsync(ct) : null);
                },
                r => r.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound);
            if (body.Bytes is null)
            {
                lost++;
            }
            else if (Convert.ToHexStringLower(SHA256.HashData(body.Bytes)) != upload.Sha256)
            {
                corrupted++;
            }
        }

        return (lost, corrupted);
    }

    private async Task<(int Lost, int Duplicated)> VerifyWelcomeEmailsAsync(Load load, CancellationToken ct)
    {
        var expected = load.Signups.Select(u => $"{u}@example.com").ToHashSet(StringComparer.Ordinal);
        using var web = new HttpClient { BaseAddress = fixture.App.GetEndpoint(ResourceNames.Smtp, "http") };
        var counts = await Eventually.Get(
            async () =>
            {
                var messages = await web.GetFromJsonAsync<JsonElement[]>("/api/email", ct) ?? [];
                return messages
                    .Where(m => m.GetProperty("subject").GetString()?.StartsWith("Welcome", StringComparison.Ordinal) == true)
                    .SelectMany(m => m.GetProperty("to").EnumerateArray().Select(t => t.GetProperty("address").GetString() ?? string.Empty))
                    .Where(expected.Contains)
                    .GroupBy(a => a)
                    .ToDictionary(g => g.Key, g => g.Count());
            },
            c => c.Count == expected.Count,
            maxSeconds: 180);
        return (expected.Count(a => !counts.ContainsKey(a)), counts.Values.Count(c => c > 1));
    }

    private sealed record AckedUpload(string User, string Id, string Sha256);

    private sealed record Outcome(string Kind, int Status, bool AfterFault, long At);

    /// <summary>Signups to Engagement and uploads to Media, one after another per worker, until told to stop.</summary>
    private sealed class Load(SunaivaAppFixture fixture, string run)
    {
        private volatile bool _afterFault;
        private int _sequence;

        public ConcurrentQueue<Outcome> Outcomes { get; } = new();

        public ConcurrentQueue<string> Failures { get; } = new();

        public ConcurrentQueue<string> Signups { get; } = new();

        public ConcurrentQueue<AckedUpload> Uploads { get; } = new();

        public void MarkFault() => _afterFault = true;

        public Task[] Start(int workersPerKind, CancellationToken stop) =>
            Enumerable.Range(0, workersPerKind).SelectMany(_ => new[] { Task.Run(() => SignupsAsync(stop)), Task.Run(() => UploadsAsync(stop)) }).ToArray();

        /// <summary>Until both kinds of request have succeeded again after the fault.</summary>
        public async Task WaitForSuccessAfterFaultAsync(CancellationToken ct)
        {
            while (!(Served("signup") && Served("upload")))
            {
                await Task.Delay(200, ct);
            }

            bool Served(string kind)
            {
                var lastFailure = Outcomes.Where(o => o.Kind == kind && o.AfterFault && o.Status is not (>= 200 and < 300)).Select(o => o.At).DefaultIfEmpty(0).Max();
                return Outcomes.Any(o => o.Kind == kind && o.AfterFault && o.Status is >= 200 and < 300 && o.At > lastFailure);
            }
        }

        private async Task SignupsAsync(CancellationToken stop)
        {
            using var engagement = Faults.InternalEvents(fixture, ClientTimeout);
            while (!stop.IsCancellationRequested)
            {
                var user = $"load_{run}_{Interlocked.Increment(ref _sequence)}";
                var status = await SendAsync("signup", () => engagement.PostAsJsonAsync("/internal/events", Faults.Signup("evt_" + user, user)));
                if (status is 200 or 202)
                {
                    Signups.Enqueue(user);
                }
            }
        }

        private async Task UploadsAsync(CancellationToken stop)
        {
            var user = $"up_{run}_{Interlocked.Increment(ref _sequence)}";
            using var media = Faults.RawClient(fixture, ResourceNames.Media, user, ClientTimeout);
            while (!stop.IsCancellationRequested)
            {
                var bytes = Faults.RandomText(2048);
                string? id = null;
                var status = await SendAsync("upload", async () =>
                {
                    using var request = Faults.Upload(bytes, "load.txt", "load-" + Guid.NewGuid().ToString("N"));
                    var response = await media.SendAsync(request);
                    if (response.StatusCode == HttpStatusCode.Created)
                    {
                        id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
                    }

                    return response;
                });
                if (status == 201 && id is not null)
                {
                    Uploads.Enqueue(new AckedUpload(user, id, Convert.ToHexStringLower(SHA256.HashData(bytes))));
                }
            }
        }

        private async Task<int> SendAsync(string kind, Func<Task<HttpResponseMessage>> send)
        {
            int status;
            try
            {
                using var response = await send();
                status = (int)response.StatusCode;
                if (status == 503 && response.Headers.RetryAfter is null)
                {
                    Failures.Enqueue($"{kind}: 503 without Retry-After");
                }
            }
            catch (TaskCanceledException)
            {
                status = -1;
                Failures.Enqueue($"{kind}: no answer within {ClientTimeout.TotalSeconds} s");
            }
            catch (HttpRequestException ex)
            {
                status = -2;
                Failures.Enqueue($"{kind}: connection failed ({ex.HttpRequestError})");
            }

            if (status is not (200 or 201 or 202 or 503) && status > 0)
            {
                Failures.Enqueue($"{kind}: {status}");
            }

            Outcomes.Enqueue(new Outcome(kind, status, _afterFault, Stopwatch.GetTimestamp()));
            if (status == 503)
            {
                await Task.Delay(200);
            }

            return status;
        }
    }
}
