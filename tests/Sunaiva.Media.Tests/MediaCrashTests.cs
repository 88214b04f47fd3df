using System.Net.Http.Json;
using System.Text.Json;
using Amazon.S3.Model;
using Npgsql;
using Sunaiva.Media.Videos;
using Sunaiva.ServiceDefaults.Storage;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>
/// Media as a real OS process (<see cref="ServiceChildProcess"/>) killed with SIGKILL while ffmpeg is encoding; a new process
/// on the same database takes the render over after its lease, and each video is served exactly once.
/// </summary>
[Collection(VideoServersCollection.Name)]
public sealed class MediaCrashTests(MediaServers servers) : IAsyncLifetime
{
    // The polls go to Media over HTTP as one user, within its rate limit (600 a minute) however long a render takes on a
    // busy machine: at the default 25 ms a CI run's renders outlasted it and the poll got 429.
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    private readonly string _database = LocalServers.NewDatabaseName("mediacrash");
    private readonly string _user = "crash-" + Guid.NewGuid().ToString("N")[..8];
    private ServiceChildProcess _media = null!;

    public Task InitializeAsync()
    {
        var settings = DraftVideos.Settings();
        // A short lease: the restarted process takes the killed render over within seconds, not the default 30. Drafts keep
        // the test short; the pipeline (espeak, Skia frames piped into ffmpeg, upload) is the real one.
        settings["Work:Lease"] = "00:00:03";
        _media = servers.MediaProcess(_database, settings);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _media.DisposeAsync();

    [Fact]
    public async Task Media_killed_mid_render_completes_each_video_once_after_restart()
    {
        await _media.StartAsync(TimeSpan.FromSeconds(60));
        List<string> ids;
        using (var client = _media.Client(_user))
        {
            var accepted = await client.PostAsJsonAsync("/videos/onboarding", new { style = "minimal", name = "Kim", goals = new[] { "Keep notes" } });
            accepted.EnsureSuccessStatusCode();
            var body = await accepted.Content.ReadFromJsonAsync<JsonElement>();
            ids = [.. body.GetProperty("videos").EnumerateArray().Select(v => v.GetProperty("id").GetString()!)];

            // Mid-render: a video past its narration (progress > 20 %: frames are being piped into ffmpeg) and not ready.
            await Eventually.UntilAsync(
                async () =>
                {
                    var videos = await client.GetFromJsonAsync<JsonElement>("/videos");
                    return videos.EnumerateArray().Any(v => v.GetProperty("status").GetString() == "rendering" && v.GetProperty("progress").GetInt32() > 20);
                },
                "a video encoding",
                TimeSpan.FromSeconds(40),
                PollInterval);
        }

        _media.Kill();
        var killedPid = _media.Pid;
        var notReadyAtKill = await ScalarAsync<long>("SELECT count(*) FROM videos WHERE user_id = @u AND status <> 'ready'");
        var leasedAtKill = await ScalarAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'video.render' AND status = 'pending' AND lease_owner IS NOT NULL AND payload = ANY(@ids)", ids.ToArray());

        await _media.StartAsync(TimeSpan.FromSeconds(60));
        using var restarted = _media.Client(_user);
        await Eventually.UntilAsync(
            async () =>
            {
                var videos = await restarted.GetFromJsonAsync<JsonElement>("/videos");
                return videos.EnumerateArray().Count(v => v.GetProperty("status").GetString() is "ready" or "failed") == 3;
            },
            "all three videos final after the restart",
            TimeSpan.FromSeconds(90),
            PollInterval);

        Assert.NotEqual(killedPid, _media.Pid);
        Assert.True(notReadyAtKill > 0, "every video was already served when Media was killed: nothing was interrupted");
        Assert.True(leasedAtKill > 0, "no render was leased to the killed process");
        Assert.Equal(3L, await ScalarAsync<long>("SELECT count(*) FROM videos WHERE user_id = @u"));
        Assert.Equal(3L, await ScalarAsync<long>("SELECT count(*) FROM videos WHERE user_id = @u AND status = 'ready' AND revision = 1"));
        foreach (var id in ids)
        {
            Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM outbox WHERE type = 'video.ready' AND payload->>'videoId' = @id", id));
            Assert.Equal(1L, await ScalarAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'video.render' AND payload = @id AND status = 'done'", id));
        }

        Assert.True(await ScalarAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'video.render' AND payload = ANY(@ids) AND attempts >= 2", ids.ToArray()) > 0, "no render was run again after the kill");

        // One set of objects per video: r1/video.mp4, poster.jpg, captions.vtt, nothing else under the user's prefix.
        using var s3 = StorageExtensions.CreateClient(StorageConnection.Parse(servers.Servers.StorageConnectionString!));
        var objects = (await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Extensions.VideosBucket, Prefix = VideoStore.UserPrefix(_user) })).S3Objects ?? [];
        Assert.Equal(
            ids.SelectMany(id => new[] { "captions.vtt", "poster.jpg", "video.mp4" }.Select(f => $"{VideoStore.UserPrefix(_user)}videos/{id}/r1/{f}")).Order(StringComparer.Ordinal),
            objects.Select(o => o.Key).Order(StringComparer.Ordinal));

        // The video taken over is a whole one.
        var first = await restarted.GetFromJsonAsync<JsonElement>($"/videos/{ids[0]}");
        using var raw = new HttpClient();
        var path = Path.Combine(Path.GetTempPath(), $"{ids[0]}.mp4");
        await File.WriteAllBytesAsync(path, await raw.GetByteArrayAsync(first.GetProperty("videoUrl").GetString()));
        try
        {
            var probe = await VideoProbe.ProbeAsync(path);
            var duration = double.Parse(probe.GetProperty("format").GetProperty("duration").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(duration, 30, 60.5);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private async Task<T> ScalarAsync<T>(string sql, object? parameter = null)
    {
        await using var connection = new NpgsqlConnection(servers.Servers.PostgresConnectionString(_database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("u", _user);
        switch (parameter)
        {
            case string[] ids:
                command.Parameters.AddWithValue("ids", ids);
                break;
            case string id:
                command.Parameters.AddWithValue("id", id);
                break;
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }
}
