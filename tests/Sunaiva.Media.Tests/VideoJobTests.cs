using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.DependencyInjection;
using SkiaSharp;
using Sunaiva.Contracts;
using Sunaiva.Media.Videos;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;
using Sunaiva.ServiceDefaults.Storage;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>Jobs around the renderer: crash takeover, the signup event, styles, live progress, deletion, speechless videos.</summary>
[Collection(VideoServersCollection.Name)]
public sealed class VideoJobTests(MediaServers servers) : IAsyncLifetime
{
    private readonly MediaApp _app = new(servers.Servers, DraftVideos.Settings());
    private readonly string _user = "job-" + Guid.NewGuid().ToString("N")[..8];

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task A_render_whose_worker_was_killed_is_taken_over_after_its_lease_and_served_once()
    {
        // The state Media leaves when killed mid-render: the item leased to a process that is gone, the video half done.
        var id = $"vid_{Guid.NewGuid():N}";
        var now = _app.Time.GetUtcNow();
        await ExecuteAsync(
            """
            INSERT INTO videos (id, user_id, kind, style, status, progress, object_prefix, created_at, updated_at)
            VALUES (@id, @user, 'welcome', 'minimal', 'rendering', 40, @prefix, @now, @now);
            INSERT INTO work_items (kind, key, partition_key, payload, status, attempts, max_attempts, run_at, lease_owner, lease_until, created_at)
            VALUES ('video.render', 'video:' || @id || ':render', 'video:' || @id, @id, 'pending', 1, 5, @now, 'media-killed-mid-render', @until, @now);
            INSERT INTO work_partitions (key, item_id, lease_until)
            SELECT partition_key, id, @until FROM work_items WHERE key = 'video:' || @id || ':render';
            """,
            ("id", id), ("user", _user), ("prefix", $"{VideoStore.UserPrefix(_user)}videos/{id}/"), ("now", now), ("until", now.AddSeconds(30)));
        var attemptsWhileLeased = await _app.ScalarAsync<int>("SELECT attempts FROM work_items WHERE payload = @id", ("id", id));

        _app.Time.Advance(TimeSpan.FromSeconds(31));
        _app.Services.GetRequiredService<WorkSignal>().Notify();
        using var client = _app.ClientFor(_user);
        var video = await Eventually.Get(() => client.GetFromJsonAsync<JsonElement>($"/videos/{id}"), v => v.GetProperty("status").GetString() is "ready" or "failed", 400);

        Assert.Equal(1, attemptsWhileLeased);
        Assert.Equal("ready", video.GetProperty("status").GetString());
        Assert.Equal("done", await _app.ScalarAsync<string>("SELECT status FROM work_items WHERE payload = @id", ("id", id)));
        Assert.Equal(2, await _app.ScalarAsync<int>("SELECT attempts FROM work_items WHERE payload = @id", ("id", id)));
        Assert.Equal(1L, await _app.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE type = 'video.ready' AND payload->>'videoId' = @id", ("id", id)));
        Assert.Equal(1, await _app.ScalarAsync<int>("SELECT revision FROM videos WHERE id = @id", ("id", id)));
    }

    [Fact]
    public async Task Signup_event_keeps_the_profile_and_queues_three_videos_in_the_default_style_once()
    {
        var data = new UserSignedUp(_user, $"{_user}@example.com", "Grace\u0007 <i>Hopper</i>", "en", "US", ["Write better code"], "en-US-female-2", null);

        await PublishSignupAsync("evt_signup_" + _user, data);
        await PublishSignupAsync("evt_signup_" + _user, data);
        await Eventually.UntilAsync(async () => await _app.ScalarAsync<long>("SELECT count(*) FROM videos WHERE user_id = @u", ("u", _user)) == 3, "three videos queued");

        Assert.Equal(3L, await _app.ScalarAsync<long>("SELECT count(*) FROM videos WHERE user_id = @u AND style = 'minimal'", ("u", _user)));
        Assert.Equal("Grace <i>Hopper</i>", await _app.ScalarAsync<string>("SELECT name FROM video_profiles WHERE user_id = @u", ("u", _user)));
        Assert.Equal(3L, await _app.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'video.render' AND payload IN (SELECT id FROM videos WHERE user_id = @u)", ("u", _user)));
    }

    [Fact]
    public async Task Each_style_has_a_preview_and_the_four_look_visibly_different()
    {
        using var client = _app.ClientFor(_user);
        var styles = await client.GetFromJsonAsync<JsonElement[]>("/videos/styles");
        var images = new List<SKBitmap>();
        foreach (var style in styles!)
        {
            var png = await client.GetByteArrayAsync(style.GetProperty("previewUrl").GetString());
            images.Add(SKBitmap.Decode(png));
        }

        Assert.Equal(["minimal", "vibrant", "cinematic", "playful"], styles.Select(s => s.GetProperty("id").GetString()));
        Assert.All(images, i => Assert.Equal((1280, 720), (i.Width, i.Height)));
        for (var a = 0; a < images.Count; a++)
        {
            for (var b = a + 1; b < images.Count; b++)
            {
                Assert.True(MeanDifference(images[a], images[b]) > 20, $"styles {a} and {b} look alike");
            }
        }

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/videos/styles/neon/preview.png")).StatusCode);
    }

    [Fact]
    public async Task Without_any_speech_the_video_gets_burned_in_captions_and_says_so_then_progress_streams_and_delete_removes_everything()
    {
        var settings = DraftVideos.Settings();
        settings[$"ConnectionStrings:{ResourceNames.Storage}"] = servers.Servers.StorageConnectionString;
        settings["Videos:EspeakPath"] = "/nonexistent/espeak-ng";
        await using var app = new ServiceApp<Program>(servers.Servers, ResourceNames.MediaDb, settings);
        await app.StartAsync();
        using var client = app.ClientFor(_user);
        client.Timeout = TimeSpan.FromMinutes(10);   // the event stream stays open until the three renders are done
        await client.PostAsJsonAsync("/videos/onboarding", new { style = "playful", name = "Quinn" });

        var stream = await client.GetStringAsync("/videos/onboarding/events");
        var videos = await client.GetFromJsonAsync<JsonElement[]>("/videos");
        var captions = await new HttpClient().GetStringAsync(videos![0].GetProperty("captionsUrl").GetString());
        var s3 = app.Services.GetRequiredService<IAmazonS3>();
        var before = (await s3.ListObjectsV2Async(new() { BucketName = Extensions.VideosBucket, Prefix = VideoStore.UserPrefix(_user) })).S3Objects?.Count ?? 0;
        var delete = await client.DeleteAsync("/videos");
        var after = (await s3.ListObjectsV2Async(new() { BucketName = Extensions.VideosBucket, Prefix = VideoStore.UserPrefix(_user) })).S3Objects?.Count ?? 0;

        Assert.All(videos, v => Assert.Equal("ready", v.GetProperty("status").GetString()));
        Assert.All(videos, v => Assert.True(v.GetProperty("captionsBurnedIn").GetBoolean()));
        Assert.All(videos, v => Assert.Equal("captions-only", v.GetProperty("narration").GetString()));
        Assert.Contains("Quinn", captions, StringComparison.Ordinal);
        Assert.Equal(3, stream.Split('\n').Count(l => l == "event: ready"));
        Assert.Contains("event: progress", stream, StringComparison.Ordinal);
        Assert.Equal(9, before);
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(0, after);
        Assert.Empty(await client.GetFromJsonAsync<JsonElement[]>("/videos") ?? []);
    }

    [Fact]
    public async Task Deleting_a_users_videos_removes_every_object_over_several_listing_pages_and_no_other_users()
    {
        var s3 = _app.Services.GetRequiredService<IAmazonS3>();
        var other = "other-" + Guid.NewGuid().ToString("N")[..8];
        foreach (var key in Enumerable.Range(0, 5).Select(i => $"{VideoStore.UserPrefix(_user)}videos/vid_{i}/r1/video.mp4").Append($"{VideoStore.UserPrefix(other)}videos/vid_0/r1/video.mp4"))
        {
            var put = StorageExtensions.NewPut(Extensions.VideosBucket, key);
            put.ContentBody = "mp4";
            await s3.PutObjectAsync(put);
        }

        // Pages of two keys: s3rver refuses the continuation token of the second listing version on a truncated page.
        var deleted = await _app.Services.GetRequiredService<VideoObjects>().DeletePrefixAsync(VideoStore.UserPrefix(_user), CancellationToken.None, pageSize: 2);

        Assert.Equal(5, deleted);
        Assert.Empty((await s3.ListObjectsAsync(new ListObjectsRequest { BucketName = Extensions.VideosBucket, Prefix = VideoStore.UserPrefix(_user) })).S3Objects ?? []);
        Assert.Single((await s3.ListObjectsAsync(new ListObjectsRequest { BucketName = Extensions.VideosBucket, Prefix = VideoStore.UserPrefix(other) })).S3Objects ?? []);
    }

    private async Task PublishSignupAsync(string eventId, UserSignedUp data)
    {
        var integrationEvent = new IntegrationEvent(eventId, EventTypes.UserSignedUp, "test", _app.Time.GetUtcNow(), JsonSerializer.SerializeToElement(data, EventJson.Options));
        var handler = _app.Services.GetServices<IIntegrationEventHandler>().Single(h => h is SignupVideosHandler);
        await _app.Services.GetRequiredService<WorkQueue>().EnqueueAsync(
            new NewWork(EventHandlerWork.KindOf(handler), $"evt:{eventId}:{handler.GetType().Name}", JsonSerializer.Serialize(integrationEvent, EventJson.Options)), CancellationToken.None);
    }

    private async Task ExecuteAsync(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new Npgsql.NpgsqlConnection(_app.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync();
    }

    private static double MeanDifference(SKBitmap a, SKBitmap b)
    {
        double sum = 0;
        var count = 0;
        for (var y = 0; y < a.Height; y += 8)
        {
            for (var x = 0; x < a.Width; x += 8)
            {
                var p = a.GetPixel(x, y);
                var q = b.GetPixel(x, y);
                sum += (Math.Abs(p.Red - q.Red) + Math.Abs(p.Green - q.Green) + Math.Abs(p.Blue - q.Blue)) / 3.0;
                count++;
            }
        }

        return sum / count;
    }
}
