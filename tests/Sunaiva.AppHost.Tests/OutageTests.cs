using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Amazon.S3;
using Npgsql;
using Sunaiva.ServiceDefaults.Storage;
using Sunaiva.Testing;

namespace Sunaiva.AppHost.Tests;

/// <summary>A dependency that is down answers 503 naming it, health says so, and a delete meanwhile is kept and completed later.</summary>
[Collection(SunaivaAppCollection.Name)]
public sealed class OutageTests(SunaivaAppFixture fixture)
{
    [Fact]
    public async Task Storage_down_answers_503_naming_storage_and_health_reports_it()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var user = "out_" + Guid.NewGuid().ToString("N")[..10];
        using var media = Faults.RawClient(fixture, ResourceNames.Media, user);
        var id = await UploadAsync(media, Faults.RandomText(64), timeout.Token);

        await Faults.StopAsync(fixture, ResourceNames.Storage, timeout.Token);
        try
        {
            using var upload = Faults.Upload(Faults.RandomText(64), "down.txt", "down-" + user);
            await AssertUnavailableAsync(await media.SendAsync(upload, timeout.Token), ResourceNames.Storage);
            await AssertUnavailableAsync(await media.GetAsync($"/files/{id}/content", timeout.Token), ResourceNames.Storage);

            using var ops = Faults.RawClient(fixture, ResourceNames.Media);
            ops.DefaultRequestHeaders.Authorization = new("Bearer", DevTokens.For("ops-person", ops: true));
            var status = await ops.GetFromJsonAsync<JsonElement>("/ops/status", timeout.Token);
            var storage = status.GetProperty("dependencies").EnumerateArray().Single(d => d.GetProperty("name").GetString() == ResourceNames.Storage);
            Assert.Equal("unhealthy", storage.GetProperty("state").GetString());
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await ops.GetAsync("/health", timeout.Token)).StatusCode);
        }
        finally
        {
            await Faults.StartAsync(fixture, ResourceNames.Storage, timeout.Token);
        }
    }

    [Fact]
    public async Task Postgres_down_answers_503_naming_postgres_for_signups_and_uploads()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var user = "pgout_" + Guid.NewGuid().ToString("N")[..10];
        await Faults.StopAsync(fixture, ResourceNames.Postgres, timeout.Token);
        try
        {
            using var engagement = Faults.InternalEvents(fixture);
            await AssertUnavailableAsync(await engagement.PostAsJsonAsync("/internal/events", Faults.Signup("evt_" + user, user), timeout.Token), ResourceNames.Postgres);
            using var media = Faults.RawClient(fixture, ResourceNames.Media, user);
            await AssertUnavailableAsync(await media.GetAsync("/files", timeout.Token), ResourceNames.Postgres);
        }
        finally
        {
            await Faults.StartAsync(fixture, ResourceNames.Postgres, timeout.Token);
        }
    }

    [Fact]
    public async Task Delete_while_storage_is_down_hides_the_file_at_once_and_removes_its_object_when_storage_returns()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        var user = "del_" + Guid.NewGuid().ToString("N")[..10];
        using var media = Faults.RawClient(fixture, ResourceNames.Media, user);
        var id = await UploadAsync(media, Faults.RandomText(64), timeout.Token);
        var key = await ObjectKeyAsync(id);
        using var s3 = StorageExtensions.CreateClient(StorageConnection.Parse(await fixture.ConnectionStringAsync(ResourceNames.Storage)));

        await Faults.StopAsync(fixture, ResourceNames.Storage, timeout.Token);
        try
        {
            Assert.Equal(HttpStatusCode.NoContent, (await media.DeleteAsync($"/files/{id}", timeout.Token)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await media.GetAsync($"/files/{id}", timeout.Token)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await media.DeleteAsync($"/files/{id}", timeout.Token)).StatusCode);
            Assert.DoesNotContain(await media.GetFromJsonAsync<JsonElement[]>("/files", timeout.Token) ?? [], f => f.GetProperty("id").GetString() == id);
            // The tombstone is durable and the cleanup keeps trying while storage is away.
            Assert.True(await Eventually.Get(() => AttemptsAsync(id), a => a >= 1) >= 1);
        }
        finally
        {
            await Faults.StartAsync(fixture, ResourceNames.Storage, timeout.Token);
        }

        // Back-off is at most a few seconds after so few attempts; the row goes once the object is gone.
        Assert.Equal(-1, await Eventually.Get(() => AttemptsAsync(id), a => a == -1, maxSeconds: 120));
        var gone = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.GetObjectMetadataAsync("sunaiva-files", key, timeout.Token));
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }

    internal static async Task AssertUnavailableAsync(HttpResponseMessage response, string dependency)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(response.Headers.RetryAfter);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(dependency, problem.GetProperty("dependency").GetString());
        Assert.DoesNotContain("127.0.0.1", problem.ToString(), StringComparison.Ordinal);
    }

    private static async Task<string> UploadAsync(HttpClient media, byte[] bytes, CancellationToken ct)
    {
        using var request = Faults.Upload(bytes, "a.txt", "k-" + Guid.NewGuid().ToString("N"));
        var response = await media.SendAsync(request, ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetString()!;
    }

    private async Task<string> ObjectKeyAsync(string id)
    {
        await using var connection = new NpgsqlConnection(await fixture.ConnectionStringAsync(ResourceNames.MediaDb));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT object_key FROM files WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", id);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Cleanup attempts of the file's tombstone; -1 once the row is gone.</summary>
    private async Task<int> AttemptsAsync(string id)
    {
        await using var connection = new NpgsqlConnection(await fixture.ConnectionStringAsync(ResourceNames.MediaDb));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT cleanup_attempts FROM files WHERE id = @id AND deleted_at IS NOT NULL", connection);
        command.Parameters.AddWithValue("id", id);
        return await command.ExecuteScalarAsync() is int attempts ? attempts : -1;
    }
}
