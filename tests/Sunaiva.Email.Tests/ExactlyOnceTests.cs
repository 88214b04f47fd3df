using Microsoft.Extensions.Time.Testing;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Email.Tests;

[Collection(ServersCollection.Name)]
public sealed class ExactlyOnceTests(EmailServers servers)
{
    [Fact]
    public async Task A_crash_between_render_and_send_never_sends_twice()
    {
        var database = await EngagementApp.CreateDatabaseAsync(servers);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 2, 9, 0, 0, TimeSpan.Zero));
        var address = $"crash-{Guid.NewGuid():N}@example.com";
        string rendered;

        // The first replica renders and queues the welcome, but its mail server never answers: then it dies.
        var closedPort = Sunaiva.Testing.LocalServers.FreePort();
        await using (var first = new EngagementApp(servers, database, time, new Dictionary<string, string?> { ["ConnectionStrings:smtp"] = $"Endpoint=smtp://127.0.0.1:{closedPort}" }))
        {
            _ = first.Server;
            await first.SignUpAsync("user-crash", address, "Cara", "en");
            rendered = await first.QueryOneAsync<string>("SELECT id FROM sent_emails WHERE user_id = 'user-crash'");
            Assert.Equal("queued", await first.QueryOneAsync<string>("SELECT status FROM sent_emails WHERE id = @rendered", new { rendered }));
        }

        // A second replica on the same database takes the work over, while the signup event is delivered again.
        await using var second = new EngagementApp(servers, database, time);
        _ = second.Server;
        await second.PublishAsync("evt_user-crash", EventTypes.UserSignedUp, new UserSignedUp("user-crash", address, "Cara", "en", null, null, null, null));
        await second.AdvanceAsync(TimeSpan.FromMinutes(10));

        var mail = Assert.Single(await servers.Mail.WaitForAsync(address, 1));
        Assert.Equal($"{rendered}@sunaiva.local", mail.MessageId);
        await second.AdvanceAsync(TimeSpan.FromMinutes(10));
        Assert.Single(await servers.Mail.ListAsync(address));
        Assert.Equal("sent", await second.QueryOneAsync<string>("SELECT status FROM sent_emails WHERE id = @rendered", new { rendered }));
    }
}
