using Npgsql;
using Sunaiva.Media.Files;
using Sunaiva.ServiceDefaults.Storage;
using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>
/// Media as a real OS process (<see cref="ServiceChildProcess"/>) killed with SIGKILL while uploads stream to storage.
/// A file under a part is one put with no upload row, so the kill can leave an object whose row never committed (or the
/// part of a broken put that s3rver keeps); after the restart the storage scan removes what no file owns, and every
/// file row's object is whole.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class UploadCrashTests(MediaServers servers) : IAsyncLifetime
{
    private readonly string _database = LocalServers.NewDatabaseName("uploadcrash");
    private readonly string _user = "crash-" + Guid.NewGuid().ToString("N")[..8];
    private ServiceChildProcess _media = null!;

    public Task InitializeAsync()
    {
        // Objects nothing owns count as old after 2 s here (an hour by default), so the scan the restarted process makes at
        // its start takes them.
        _media = servers.MediaProcess(_database, new Dictionary<string, string?> { ["FileVault:UnownedObjectAge"] = "00:00:02" });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _media.DisposeAsync();

    [Fact]
    public async Task Media_killed_while_uploads_stream_leaves_no_object_without_its_file_after_a_restart()
    {
        await _media.StartAsync(TimeSpan.FromSeconds(60));
        var next = 0;
        using var stop = new CancellationTokenSource();
        using (var client = _media.Client(_user))
        {
            var senders = Enumerable.Range(0, 6).Select(async _ =>
            {
                while (!stop.IsCancellationRequested)
                {
                    // Distinct bytes per upload (no duplicates), 1 MB: one put while the file arrives.
                    var png = TestFiles.Png(padding: 1_000_000);
                    BitConverter.TryWriteBytes(png.AsSpan(png.Length - 4), Interlocked.Increment(ref next));
                    try
                    {
                        using var response = await TestFiles.UploadAsync(client, png, "image/png", $"photo-{next}.png");
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                    {
                        // Cut off by the kill.
                    }
                }
            }).ToList();
            await Eventually.UntilAsync(async () => (await FileKeysAsync()).Count >= 12, "twelve uploads stored", TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(50));
            _media.Kill();
            await stop.CancelAsync();
            await Task.WhenAll(senders);
        }

        var rowsAtKill = await FileKeysAsync();
        await Task.Delay(TimeSpan.FromSeconds(3)); // what the kill left is now past the age
        await _media.StartAsync(TimeSpan.FromSeconds(60));
        HashSet<string> objects = [];
        await Eventually.UntilAsync(
            async () => (objects = await ObjectKeysAsync()).SetEquals(await FileKeysAsync()), "only objects that files own", TimeSpan.FromSeconds(30));

        var rows = await FileKeysAsync();
        Assert.True(rowsAtKill.Count >= 12);
        Assert.Equal(rows.Order(StringComparer.Ordinal), objects.Order(StringComparer.Ordinal));
        using var s3 = StorageExtensions.CreateClient(StorageConnection.Parse(servers.Servers.StorageConnectionString!));
        foreach (var key in rows)
        {
            var head = await s3.GetObjectMetadataAsync(Extensions.FilesBucket, key);
            Assert.True(head.ContentLength > 1_000_000, $"{key} is whole");
        }
    }

    private async Task<HashSet<string>> FileKeysAsync()
    {
        await using var data = NpgsqlDataSource.Create(servers.Servers.PostgresConnectionString(_database));
        return (await data.QueryListAsync<string>("SELECT object_key FROM files WHERE user_id = @u AND deleted_at IS NULL", new { u = _user })).ToHashSet(StringComparer.Ordinal);
    }

    private async Task<HashSet<string>> ObjectKeysAsync()
    {
        using var s3 = StorageExtensions.CreateClient(StorageConnection.Parse(servers.Servers.StorageConnectionString!));
        return (await TestFiles.StoredObjectsAsync(s3, _user)).ToHashSet(StringComparer.Ordinal);
    }
}
