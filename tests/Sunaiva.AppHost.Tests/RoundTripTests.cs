using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;
using StackExchange.Redis;

namespace Sunaiva.AppHost.Tests;

[Collection(SunaivaAppCollection.Name)]
public sealed class RoundTripTests(SunaivaAppFixture fixture)
{
    [Fact]
    public async Task Voice_preference_written_through_the_api_lands_in_the_voice_database()
    {
        var user = "voice-" + Guid.NewGuid().ToString("N")[..8];
        using var client = fixture.Client(ResourceNames.Voice, user);
        var response = await client.PutAsJsonAsync("/voice/preferences", new { voiceId = "en-GB-female-2", language = "en-GB" });
        response.EnsureSuccessStatusCode();

        await using var connection = new NpgsqlConnection(await fixture.ConnectionStringAsync(ResourceNames.VoiceDb));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT voice_id FROM voice_preferences WHERE user_id = @u", connection);
        command.Parameters.AddWithValue("u", user);
        Assert.Equal("en-GB-female-2", await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Referral_written_through_billing_lands_in_the_billing_database_and_is_fixed_once_set()
    {
        var user = "ref-" + Guid.NewGuid().ToString("N")[..8];
        using var client = fixture.Client(ResourceNames.Billing, user);
        await fixture.EnsureInfluencerAsync("FIRST_CODE");
        await fixture.EnsureInfluencerAsync("SECOND_CODE");
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/billing/referral", new { referralCode = "first_code" })).StatusCode);
        var second = await client.PostAsJsonAsync("/billing/referral", new { referralCode = "second_code" });
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("FIRST_CODE", (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("referralCode").GetString());

        await using var connection = new NpgsqlConnection(await fixture.ConnectionStringAsync(ResourceNames.BillingDb));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT referral_code FROM referral_attributions WHERE user_id = @u", connection);
        command.Parameters.AddWithValue("u", user);
        Assert.Equal("FIRST_CODE", await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Uploaded_file_round_trips_through_object_storage_and_stays_private_to_its_owner()
    {
        var owner = "files-" + Guid.NewGuid().ToString("N")[..8];
        using var client = fixture.Client(ResourceNames.Media, owner);
        var bytes = Encoding.UTF8.GetBytes("remember: Ada's birthday is on the 10th " + Guid.NewGuid());
        using var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(bytes);
        part.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        form.Add(part, "file", "notes.txt");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/files") { Content = form };
        request.Headers.Add("Idempotency-Key", "upload-" + owner);
        var created = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();

        Assert.Equal(bytes, await client.GetByteArrayAsync($"/files/{id}/content"));

        using var stranger = fixture.Client(ResourceNames.Media, "someone-else");
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync($"/files/{id}/content")).StatusCode);
        Assert.Empty(await stranger.GetFromJsonAsync<JsonElement[]>("/files") ?? []);

        // The object is really in the storage server, not only in the service.
        var storage = Sunaiva.ServiceDefaults.Storage.StorageConnection.Parse(await fixture.ConnectionStringAsync(ResourceNames.Storage));
        using var s3 = Sunaiva.ServiceDefaults.Storage.StorageExtensions.CreateClient(storage);
        var listed = await s3.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = "sunaiva-files" });
        Assert.Contains(listed.S3Objects, o => o.Key.EndsWith(id!, StringComparison.Ordinal) && o.Size == bytes.Length);

        // Every storage request made for the owner is metered against them.
        using var ops = fixture.Client(ResourceNames.Media, "ops-person", ops: true);
        var cost = await Eventually.Get(() => ops.GetFromJsonAsync<JsonElement>($"/ops/usage/users/{owner}"), c => c.GetProperty("calls").GetInt64() >= 2);
        var storageRow = Assert.Single(cost.GetProperty("byProvider").EnumerateArray());
        Assert.Equal(("storage", "s3-storage"), (storageRow.GetProperty("capability").GetString(), storageRow.GetProperty("provider").GetString()));
    }

    [Fact]
    public async Task Retried_upload_with_the_same_idempotency_key_stores_one_file()
    {
        var owner = "idem-" + Guid.NewGuid().ToString("N")[..8];
        using var client = fixture.Client(ResourceNames.Media, owner);
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            using var form = new MultipartFormDataContent();
            var part = new ByteArrayContent("same bytes"u8.ToArray());
            part.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
            form.Add(part, "file", "same.txt");
            using var request = new HttpRequestMessage(HttpMethod.Post, "/files") { Content = form };
            request.Headers.Add("Idempotency-Key", "same-key");
            statuses.Add((await client.SendAsync(request)).StatusCode);
        }

        Assert.Equal([HttpStatusCode.Created, HttpStatusCode.OK, HttpStatusCode.OK], statuses);
        Assert.Single(await client.GetFromJsonAsync<JsonElement[]>("/files") ?? []);
    }

    [Fact]
    public async Task Value_round_trips_through_redis()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(await fixture.ConnectionStringAsync(ResourceNames.Redis));
        var key = "roundtrip:" + Guid.NewGuid();
        await redis.GetDatabase().StringSetAsync(key, "sunaiva", TimeSpan.FromMinutes(1));
        Assert.Equal("sunaiva", (string?)await redis.GetDatabase().StringGetAsync(key));
    }

    [Fact]
    public async Task Mail_sent_through_smtp_appears_in_the_maildev_inbox()
    {
        var to = $"ops-{Guid.NewGuid().ToString("N")[..8]}@example.com";
        using var client = fixture.Client(ResourceNames.Engagement, "ops-person", ops: true);
        var response = await client.PostAsJsonAsync("/ops/email/test", new { to, subject = "SMTP check" });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);

        var inbox = await Inbox.ForAsync(fixture, to, m => m.Count > 0);
        Assert.Equal("SMTP check", Assert.Single(inbox).GetProperty("subject").GetString());
    }
}

internal static class Inbox
{
    /// <summary>Messages maildev holds for one recipient, read through its REST API.</summary>
    public static async Task<List<JsonElement>> ForAsync(SunaivaAppFixture fixture, string recipient, Func<List<JsonElement>, bool> done)
    {
        var web = fixture.App.GetEndpoint(ResourceNames.Smtp, "http");
        using var http = new HttpClient { BaseAddress = web };
        return await Eventually.Get(
            async () => (await http.GetFromJsonAsync<JsonElement[]>("/api/email") ?? [])
                .Where(m => m.GetProperty("to").EnumerateArray().Any(t => t.GetProperty("address").GetString() == recipient))
                .ToList(),
            done);
    }
}
