using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Sunaiva.Testing;

namespace Sunaiva.AppHost.Tests;

/// <summary>Faults done to the running app: kill -9 a process, stop/start a resource, and the clients to watch what callers see.</summary>
internal static class Faults
{
    public static int? Pid(ResourceEvent e) =>
        e.Snapshot.Properties.FirstOrDefault(p => p.Name == "executable.pid")?.Value switch
        {
            int i => i,
            long l => (int)l,
            string s when int.TryParse(s, CultureInfo.InvariantCulture, out var parsed) => parsed,
            _ => null,
        };

    /// <summary>kill -9 of the resource's process; returns its pid.</summary>
    public static int Kill(SunaivaAppFixture fixture, string resource)
    {
        Assert.True(fixture.App.ResourceNotifications.TryGetCurrentState(resource, out var current), $"no state for {resource}");
        var pid = Pid(current!) ?? throw new InvalidOperationException($"{resource} has no pid");
        // A project runs under `dotnet run`: the crash to simulate is the service's own process, its child.
        var runsUnderDotnet = File.ReadAllText($"/proc/{pid}/comm").Trim() == "dotnet";
        var target = runsUnderDotnet ? ChildrenOf(pid).DefaultIfEmpty(pid).First() : pid;
        using var process = Process.GetProcessById(target);
        process.Kill(); // SIGKILL on Linux
        return pid;
    }

    private static IEnumerable<int> ChildrenOf(int pid)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields.Length > 1 && int.TryParse(fields[1], CultureInfo.InvariantCulture, out var ppid) && ppid == pid
                && int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var child))
            {
                yield return child;
            }
        }
    }

    /// <summary>Waits until another process than <paramref name="oldPid"/> runs the resource and it is healthy.</summary>
    public static Task<ResourceEvent> WaitRecoveredAsync(SunaivaAppFixture fixture, string resource, int oldPid, CancellationToken ct) =>
        fixture.App.ResourceNotifications.WaitForResourceAsync(resource, e =>
            e.Snapshot.State?.Text == KnownResourceStates.Running && e.Snapshot.HealthStatus == HealthStatus.Healthy && Pid(e) is { } pid && pid != oldPid, ct);

    public static async Task StopAsync(SunaivaAppFixture fixture, string resource, CancellationToken ct)
    {
        var result = await fixture.App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync(resource, KnownResourceCommands.StopCommand, ct);
        Assert.True(result.Success, result.Message);
        await fixture.App.ResourceNotifications.WaitForResourceAsync(resource, e => KnownResourceStates.TerminalStates.Contains(e.Snapshot.State?.Text), ct);
    }

    public static async Task StartAsync(SunaivaAppFixture fixture, string resource, CancellationToken ct)
    {
        var result = await fixture.App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync(resource, KnownResourceCommands.StartCommand, ct);
        Assert.True(result.Success, result.Message);
        // Not WaitForResourceHealthyAsync: it gives up at once if the snapshot it reads first is still the stopped one
        // ("failed to start"), which depends on how fast the start is reported.
        await fixture.App.ResourceNotifications.WaitForResourceAsync(resource, e =>
            e.Snapshot.State?.Text == KnownResourceStates.Running && e.Snapshot.HealthStatus == HealthStatus.Healthy, ct);
    }

    /// <summary>A client straight to the service's endpoint, without the resilience handler: what a caller sees.</summary>
    public static HttpClient RawClient(SunaivaAppFixture fixture, string service, string? userId = null, TimeSpan? timeout = null)
    {
        var client = new HttpClient { BaseAddress = fixture.App.GetEndpoint(service, "http"), Timeout = timeout ?? TimeSpan.FromSeconds(30) };
        if (userId is not null)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", DevTokens.For(userId));
        }

        return client;
    }

    public static HttpClient InternalEvents(SunaivaAppFixture fixture, TimeSpan? timeout = null)
    {
        var client = RawClient(fixture, ResourceNames.Engagement, timeout: timeout);
        client.DefaultRequestHeaders.Authorization = new("Bearer", SunaivaAppFixture.InternalToken);
        return client;
    }

    public static object Signup(string eventId, string userId, string? email = null) =>
        new { id = eventId, type = "user.signed_up", data = new { id = userId, email = email ?? $"{userId}@example.com" } };

    public static HttpRequestMessage Upload(byte[] bytes, string fileName, string idempotencyKey)
    {
        var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(bytes);
        part.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        form.Add(part, "file", fileName);
        var request = new HttpRequestMessage(HttpMethod.Post, "/files") { Content = form };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return request;
    }

    public static byte[] RandomText(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        // A fixed start: random base64 begins with "MZ" (an executable's signature) or "ID3" (an MP3 tag) now and then,
        // which the vault rightly refuses as not text.
        return Encoding.ASCII.GetBytes("text " + Convert.ToBase64String(bytes));
    }
}
