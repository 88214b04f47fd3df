using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>The video-render chain with HeyGen first: its success is stored, its failure or silence is covered by the local render within the deadline, and a late success replaces it.</summary>
[Collection(VideoServersCollection.Name)]
public sealed class HeyGenVideoTests : IAsyncLifetime
{
    private readonly FakeHeyGen _heygen = new();
    private readonly VideoApp _app;
    private readonly string _user = "hg-" + Guid.NewGuid().ToString("N")[..8];

    public HeyGenVideoTests(MediaServers servers) => _app = new VideoApp(servers.Servers, _heygen);

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task HeyGen_success_by_signed_webhook_stores_its_file_as_the_video()
    {
        using var client = _app.ClientFor(_user);
        var (id, job) = await StartOneAsync(client);

        var delivery = await DeliverAsync("avatar_video.success", job, id);
        var video = await ReadyAsync(client, id);

        Assert.Equal(HttpStatusCode.OK, delivery.StatusCode);
        Assert.Equal("heygen", video.GetProperty("provider").GetString());
        Assert.False(video.GetProperty("degraded").GetBoolean());
        using var raw = new HttpClient();
        Assert.Equal(FakeHeyGen.VideoBytes, await raw.GetByteArrayAsync(video.GetProperty("videoUrl").GetString()));
        var body = Assert.Single(_heygen.TemplateBodies, b => b.Contains("\"callback_id\":\"" + id + "\"", StringComparison.Ordinal));
        Assert.Contains("Hedy", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_webhook_with_a_bad_signature_is_refused_and_changes_nothing()
    {
        using var client = _app.ClientFor(_user);
        var (id, job) = await StartOneAsync(client);

        var delivery = await DeliverAsync("avatar_video.success", job, id, secret: "wrong");

        Assert.Equal(HttpStatusCode.BadRequest, delivery.StatusCode);
        Assert.Equal("rendering", (await client.GetFromJsonAsync<JsonElement>($"/videos/{id}")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task HeyGen_failure_serves_the_local_render_at_once()
    {
        using var client = _app.ClientFor(_user);
        var (id, job) = await StartOneAsync(client);
        _heygen.Outcome = "failed";

        await DeliverAsync("avatar_video.fail", job, id);
        var video = await ReadyAsync(client, id);

        Assert.Equal("ffmpeg", video.GetProperty("provider").GetString());
        Assert.True(video.GetProperty("degraded").GetBoolean());
        Assert.Equal("failed", await _app.ScalarAsync<string>("SELECT provider_status FROM videos WHERE id = @id", ("id", id)));
    }

    [Fact]
    public async Task HeyGen_never_finishing_serves_the_local_render_at_the_deadline_and_a_late_success_replaces_it()
    {
        using var client = _app.ClientFor(_user);
        var (id, job) = await StartOneAsync(client);
        _heygen.Outcome = "processing";

        _app.Time.Advance(TimeSpan.FromSeconds(76));   // past Videos:ProviderDeadline (75 s), inside the 2-minute promise
        var local = await ReadyAsync(client, id);
        _heygen.Outcome = "completed";
        await DeliverAsync("avatar_video.success", job, id);
        var replaced = await Eventually.Get(() => client.GetFromJsonAsync<JsonElement>($"/videos/{id}"), v => v.GetProperty("provider").GetString() == "heygen", 400);

        Assert.Equal("ffmpeg", local.GetProperty("provider").GetString());
        Assert.True(local.GetProperty("degraded").GetBoolean());
        Assert.False(local.GetProperty("betterVersionAvailable").GetBoolean());
        Assert.Equal("heygen", replaced.GetProperty("provider").GetString());
        Assert.True(replaced.GetProperty("betterVersionAvailable").GetBoolean());
        using var raw = new HttpClient();
        Assert.Equal(FakeHeyGen.VideoBytes, await raw.GetByteArrayAsync(replaced.GetProperty("videoUrl").GetString()));
        Assert.Equal(2L, await _app.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE type = 'video.ready' AND payload->>'videoId' = @id", ("id", id)));
        Assert.Equal("true", await _app.ScalarAsync<string>("SELECT payload->>'replaced' FROM outbox WHERE id = @e", ("e", $"video.ready:{id}:r2")));
    }

    [Fact]
    public async Task A_HeyGen_job_whose_id_was_never_recorded_is_not_sent_again_and_is_adopted_from_its_webhook()
    {
        using var client = _app.ClientFor(_user);
        var (id, job) = await StartOneAsync(client);
        // The state a render leaves when HeyGen accepted it and the commit recording its job id never happened (Postgres gone
        // for longer than the runner retries that commit, about a minute): the job id, its status and the work that commit
        // queued are not there, and the render item waits for its next attempt.
        await _app.ScalarAsync<int>(
            """
            WITH v AS (UPDATE videos SET provider_job_id = NULL, provider_status = NULL, status = 'queued' WHERE id = @id RETURNING id),
                 gone AS (DELETE FROM work_items WHERE key IN ('video:' || @id || ':heygen-poll', 'video:' || @id || ':local:deadline'))
            UPDATE work_items SET status = 'pending', attempts = 1, finished_at = NULL, lease_owner = NULL, lease_until = NULL WHERE key = 'video:' || @id || ':render' RETURNING 1
            """, ("id", id));
        _app.Services.GetRequiredService<Sunaiva.Messaging.Work.WorkQueue>().NotifyAdded();

        await Eventually.UntilAsync(async () => await _app.ScalarAsync<string>("SELECT provider_status FROM videos WHERE id = @id", ("id", id)) == "unknown", "the render ran again");
        Assert.Equal([job], _heygen.JobsFor(id));   // not sent to HeyGen a second time
        Assert.Equal(HttpStatusCode.OK, (await DeliverAsync("avatar_video.success", job, id)).StatusCode);
        var video = await ReadyAsync(client, id);

        Assert.Equal("heygen", video.GetProperty("provider").GetString());
        Assert.Equal(job, await _app.ScalarAsync<string>("SELECT provider_job_id FROM videos WHERE id = @id", ("id", id)));
        Assert.Equal([job], _heygen.JobsFor(id));
    }

    private async Task<(string Id, string Job)> StartOneAsync(HttpClient client)
    {
        var body = await (await client.PostAsJsonAsync("/videos/onboarding", new { style = "cinematic", name = "Hedy" })).Content.ReadFromJsonAsync<JsonElement>();
        var id = body.GetProperty("videos")[0].GetProperty("id").GetString()!;
        string? job = null;
        await Eventually.UntilAsync(async () => (job = await _app.ScalarAsync<string>("SELECT provider_job_id FROM videos WHERE id = @id", ("id", id))) is not null, "the HeyGen job is started", TimeSpan.FromSeconds(300));
        return (id, job!);
    }

    private async Task<HttpResponseMessage> DeliverAsync(string type, string job, string callbackId, string secret = VideoApp.WebhookSecret)
    {
        var body = JsonSerializer.Serialize(new { event_type = type, event_data = new { video_id = job, url = $"https://files.heygen.test/{job}.mp4", callback_id = callbackId } });
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(body)));
        using var anonymous = _app.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/heygen") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("signature", signature);
        return await anonymous.SendAsync(request);
    }

    private static async Task<JsonElement> ReadyAsync(HttpClient client, string id) =>
        await Eventually.Get(() => client.GetFromJsonAsync<JsonElement>($"/videos/{id}"), v => v.GetProperty("status").GetString() is "ready" or "failed", 400);
}
