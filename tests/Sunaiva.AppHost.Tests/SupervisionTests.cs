using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.AppHost.Infrastructure;

namespace Sunaiva.AppHost.Tests;

/// <summary>In local mode the AppHost restarts what crashed, and the services reconnect without help.</summary>
[Collection(SunaivaAppCollection.Name)]
public sealed class SupervisionTests(SunaivaAppFixture fixture)
{
    [Theory]
    [InlineData(ResourceNames.Redis)]
    [InlineData(ResourceNames.Postgres)]
    [InlineData(ResourceNames.Storage)]
    [InlineData(ResourceNames.Smtp)]
    [InlineData(ResourceNames.Media)]
    [InlineData(ResourceNames.Billing)]
    public async Task Killed_process_is_restarted_healthy_and_requests_succeed_again(string resource)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var supervisor = fixture.App.Services.GetRequiredService<ResourceSupervisor>();
        var before = supervisor.Record(resource).Restarts;

        var pid = Faults.Kill(fixture, resource);
        await Faults.WaitRecoveredAsync(fixture, resource, pid, timeout.Token);

        var record = supervisor.Record(resource);
        Assert.True(record.Restarts > before, $"{resource} was not restarted by the supervisor");
        Assert.NotEqual(0, record.LastExitCode ?? -1);
        await AssertServingAsync(timeout.Token);
    }

    [Fact]
    public async Task Resource_stopped_on_request_is_not_restarted()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var supervisor = fixture.App.Services.GetRequiredService<ResourceSupervisor>();
        var before = supervisor.Record(ResourceNames.Smtp).Restarts;
        await Faults.StopAsync(fixture, ResourceNames.Smtp, timeout.Token);
        try
        {
            // Past the first back-off (1 s) with margin: a crash would have been restarted by now.
            await Task.Delay(TimeSpan.FromSeconds(4), timeout.Token);
            Assert.True(fixture.App.ResourceNotifications.TryGetCurrentState(ResourceNames.Smtp, out var state));
            Assert.Contains(state!.Snapshot.State?.Text, KnownResourceStates.TerminalStates);
            Assert.Equal(before, supervisor.Record(ResourceNames.Smtp).Restarts);
        }
        finally
        {
            await Faults.StartAsync(fixture, ResourceNames.Smtp, timeout.Token);
        }
    }

    [Fact]
    public void Back_off_doubles_from_one_second_up_to_thirty()
    {
        var policy = SupervisionPolicy.Default;
        Assert.Equal(
            [1, 2, 4, 8, 16, 30, 30],
            Enumerable.Range(1, 7).Select(a => policy.DelayBefore(a).TotalSeconds).ToArray());
    }

    /// <summary>A signup (Postgres, Redis via the outbox) and an upload/download (Postgres, storage) succeed once more.</summary>
    private async Task AssertServingAsync(CancellationToken ct)
    {
        var user = "sup_" + Guid.NewGuid().ToString("N")[..10];
        var signup = await Eventually.Get(
            async () =>
            {
                using var engagement = Faults.InternalEvents(fixture);
                return (await engagement.PostAsJsonAsync("/internal/events", Faults.Signup("evt_" + user, user), ct)).StatusCode;
            },
            s => s is HttpStatusCode.Accepted or HttpStatusCode.OK,
            maxSeconds: 90);
        Assert.True(signup is HttpStatusCode.Accepted or HttpStatusCode.OK, $"signup answered {signup}");

        var bytes = Faults.RandomText(256);
        using var media = Faults.RawClient(fixture, ResourceNames.Media, user);
        var id = await Eventually.Get(
            async () =>
            {
                using var request = Faults.Upload(bytes, "after.txt", "sup-" + user);
                var response = await media.SendAsync(request, ct);
                return response.IsSuccessStatusCode ? (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetString() : null;
            },
            i => i is not null,
            maxSeconds: 90);
        Assert.NotNull(id);
        Assert.Equal(bytes, await media.GetByteArrayAsync($"/files/{id}/content", ct));
    }
}
