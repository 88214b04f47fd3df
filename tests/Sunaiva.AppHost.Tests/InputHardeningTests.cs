using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;
using Sunaiva.Testing;

namespace Sunaiva.AppHost.Tests;

/// <summary>Inputs a careless or hostile client sends: each gets a 4xx ProblemDetails and writes nothing.</summary>
[Collection(SunaivaAppCollection.Name)]
public sealed class InputHardeningTests(SunaivaAppFixture fixture)
{
    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task Token_with_a_blank_subject_is_rejected(string subject)
    {
        using var client = fixture.Client(ResourceNames.Voice);
        client.DefaultRequestHeaders.Authorization = new("Bearer", DevTokens.For(subject));
        var response = await client.PutAsJsonAsync("/voice/preferences", new { voiceId = "en-GB-female-1" });
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData(ResourceNames.Billing, "/billing/referral", "{\"referralCode\":\"abc\\n\"}")]
    [InlineData(ResourceNames.Voice, "/voice/preferences", "{\"voiceId\":\"en-GB-female-1\\n\"}")]
    [InlineData(ResourceNames.Voice, "/voice/preferences", "{\"voiceId\":\"a\"}")]
    [InlineData(ResourceNames.Voice, "/voice/preferences", "{\"voiceId\":\"en-GB-female-1\",\"language\":\"<b>x</b>\"}")]
    public async Task Values_with_a_trailing_newline_or_the_wrong_shape_get_400(string service, string path, string body)
    {
        using var client = fixture.Client(service, "shape-" + Guid.NewGuid().ToString("N")[..8]);
        using var request = new HttpRequestMessage(path.Contains("referral", StringComparison.Ordinal) ? HttpMethod.Post : HttpMethod.Put, path)
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync(path)).StatusCode);
    }

    [Theory]
    [InlineData("{\"voice\":\"bad voice!!\"}")]
    [InlineData("{\"language\":\"!!\"}")]
    [InlineData("{\"country\":\"z\"}")]
    [InlineData("{\"name\":\"Eve\\r\\nBcc: victim@example.com\"}")]
    [InlineData("{\"referralCode\":\"abc\\n\"}")]
    public async Task Signup_with_data_the_apis_would_refuse_gets_400_and_writes_nothing(string extra)
    {
        var user = "strict_" + Guid.NewGuid().ToString("N")[..8];
        var data = JsonSerializer.Deserialize<Dictionary<string, object?>>(extra)!;
        data["id"] = user;
        data["email"] = $"{user}@example.com";
        using var engagement = InternalClient();
        var response = await engagement.PostAsJsonAsync("/internal/events", new { id = "evt_" + user, type = "user.signed_up", data });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM users WHERE id = @v", user));
    }

    [Fact]
    public async Task User_active_in_the_future_or_with_wrong_types_gets_400()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        using var engagement = InternalClient();
        Assert.Equal(HttpStatusCode.Accepted, (await engagement.PostAsJsonAsync("/internal/events", Signup($"evt_s_{id}", $"act_{id}"))).StatusCode);

        var future = await engagement.PostAsJsonAsync("/internal/events", new { id = $"evt_a_{id}", type = "user.active", data = new { id = $"act_{id}", at = "2999-01-01T00:00:00Z" } });
        var wrongType = await engagement.PostAsJsonAsync("/internal/events", new { id = $"evt_b_{id}", type = "user.active", data = new { id = 7 } });

        Assert.Equal((HttpStatusCode.BadRequest, HttpStatusCode.BadRequest), (future.StatusCode, wrongType.StatusCode));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM users WHERE id = @v AND last_active_at IS NOT NULL", $"act_{id}"));
    }

    [Fact]
    public async Task Internal_events_check_the_token_before_reading_the_body()
    {
        using var anonymous = fixture.Client(ResourceNames.Engagement);
        var response = await anonymous.PostAsync("/internal/events", new StringContent("{", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Multipart_body_without_a_valid_boundary_gets_400()
    {
        using var client = fixture.Client(ResourceNames.Media, "garbage-" + Guid.NewGuid().ToString("N")[..8]);
        var content = new StringContent("garbage");
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=xyz");
        var response = await client.PostAsync("/files", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("..\\..\\win.ini", "win.ini")]
    [InlineData("../../etc/passwd", "passwd")]
    [InlineData("..", null)]
    [InlineData("evil\u001b[31m.txt", null)]
    public async Task File_names_keep_only_their_base_name_and_refuse_control_characters(string fileName, string? stored)
    {
        using var client = fixture.Client(ResourceNames.Media, "names-" + Guid.NewGuid().ToString("N")[..8]);
        var response = await client.PostAsync("/files", Upload("hello", fileName));
        if (stored is null)
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Empty(await client.GetFromJsonAsync<JsonElement[]>("/files") ?? []);
        }
        else
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Assert.Equal(stored, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("name").GetString());
        }
    }

    [Fact]
    public async Task Idempotency_key_reused_for_other_bytes_gets_422_and_an_empty_key_gets_400()
    {
        using var client = fixture.Client(ResourceNames.Media, "keys-" + Guid.NewGuid().ToString("N")[..8]);
        Assert.Equal(HttpStatusCode.Created, (await SendUpload(client, "first bytes", "K")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await SendUpload(client, "first bytes", "K")).StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await SendUpload(client, "other bytes", "K")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendUpload(client, "more bytes", " ")).StatusCode);
        Assert.Single(await client.GetFromJsonAsync<JsonElement[]>("/files") ?? []);
    }

    [Fact]
    public async Task Chaos_for_an_unknown_provider_gets_400_and_changes_nothing()
    {
        using var ops = fixture.Client(ResourceNames.Engagement, "ops-person", ops: true);
        var response = await ops.PutAsJsonAsync("/ops/chaos", new { provider = "nope-not-a-provider", outage = true });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var chaos = await ops.GetStringAsync("/ops/chaos");
        Assert.DoesNotContain("nope-not-a-provider", chaos, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Usage_page_far_beyond_range_gets_400_not_a_server_error()
    {
        using var ops = fixture.Client(ResourceNames.Engagement, "ops-person", ops: true);
        var response = await ops.GetAsync("/ops/usage?page=2147483647&pageSize=1000");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Parallel_posts_of_one_event_id_for_different_users_accept_exactly_one()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        using var engagement = InternalClient();
        var statuses = await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
            (await engagement.PostAsJsonAsync("/internal/events", Signup($"evt_race_{id}", $"race_{id}_{i}"))).StatusCode));

        Assert.Single(statuses, s => s == HttpStatusCode.Accepted);
        Assert.All(statuses.Where(s => s != HttpStatusCode.Accepted), s => Assert.Equal(HttpStatusCode.Conflict, s));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM users WHERE id LIKE @v", $"race_{id}_%"));
    }

    [Fact]
    public async Task Event_id_answered_as_a_duplicate_cannot_name_another_user_later()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        using var engagement = InternalClient();
        Assert.Equal(HttpStatusCode.Accepted, (await engagement.PostAsJsonAsync("/internal/events", Signup($"evt_a_{id}", $"dup_{id}"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await engagement.PostAsJsonAsync("/internal/events", Signup($"evt_b_{id}", $"dup_{id}"))).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await engagement.PostAsJsonAsync("/internal/events", Signup($"evt_b_{id}", $"other_{id}"))).StatusCode);
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM users WHERE id = @v", $"other_{id}"));
    }

    [Fact]
    public async Task User_active_with_a_non_utc_offset_is_accepted_and_stored_in_utc()
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        using var engagement = InternalClient();
        Assert.Equal(HttpStatusCode.Accepted, (await engagement.PostAsJsonAsync("/internal/events", Signup($"evt_s_{id}", $"tz_{id}"))).StatusCode);
        var at = DateTimeOffset.UtcNow.AddHours(-1).ToOffset(TimeSpan.FromHours(1));

        var response = await engagement.PostAsJsonAsync("/internal/events", new { id = $"evt_t_{id}", type = "user.active", data = new { id = $"tz_{id}", at } });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM users WHERE id = @v AND last_active_at IS NOT NULL", $"tz_{id}"));
    }

    [Theory]
    [InlineData("user@[127.0.0.1]", null)]
    [InlineData(null, "\u202eevil")]
    [InlineData(null, "zero\u200bwidth")]
    public async Task Signup_with_ip_literal_email_gets_422_and_invisible_formatting_gets_400(string? email, string? name)
    {
        var user = "fmt_" + Guid.NewGuid().ToString("N")[..8];
        using var engagement = InternalClient();
        var body = $"{{\"id\":\"evt_{user}\",\"type\":\"user.signed_up\",\"data\":{{\"id\":\"{user}\",\"email\":\"{email ?? user + "@example.com"}\",\"name\":\"{name ?? "Ok"}\"}}}}";
        var response = await engagement.PostAsync("/internal/events", new StringContent(body, Encoding.UTF8, "application/json"));
        // An address the mail parser refuses is unprocessable (422); a malformed name is a bad request (400).
        Assert.Equal(email is null ? HttpStatusCode.BadRequest : HttpStatusCode.UnprocessableEntity, response.StatusCode);
    }

    [Fact]
    public async Task Token_whose_subject_holds_a_control_character_is_rejected()
    {
        using var client = fixture.Client(ResourceNames.Voice);
        client.DefaultRequestHeaders.Authorization = new("Bearer", DevTokens.For("a\u0000b"));
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PutAsJsonAsync("/voice/preferences", new { voiceId = "en-GB-female-1" })).StatusCode);
    }

    [Fact]
    public async Task Usage_filter_with_a_nul_gets_400()
    {
        using var ops = fixture.Client(ResourceNames.Engagement, "ops-person", ops: true);
        Assert.Equal(HttpStatusCode.BadRequest, (await ops.GetAsync("/ops/usage?provider=%00")).StatusCode);
    }

    [Fact]
    public async Task Two_idempotency_keys_get_400_and_downloads_are_not_sniffed()
    {
        using var client = fixture.Client(ResourceNames.Media, "dl-" + Guid.NewGuid().ToString("N")[..8]);
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/files") { Content = Upload("x", "x.txt") })
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", ["k1", "k2"]);
            Assert.Equal(HttpStatusCode.BadRequest, (await client.SendAsync(request)).StatusCode);
        }

        var created = await client.PostAsync("/files", Upload("hello", "h.txt"));
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        var download = await client.GetAsync($"/files/{id}/content");
        Assert.Equal("nosniff", download.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task File_listing_pages_with_a_before_cursor_until_every_file_was_seen()
    {
        using var client = fixture.Client(ResourceNames.Media, "pages-" + Guid.NewGuid().ToString("N")[..8]);
        var uploaded = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var created = await client.PostAsync("/files", Upload($"file {i}", $"f{i}.txt"));
            uploaded.Add((await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        }

        var seen = new List<string>();
        string? before = null;
        for (var page = 0; page < 5; page++)
        {
            var items = await client.GetFromJsonAsync<JsonElement[]>("/files?limit=2" + (before is null ? string.Empty : "&before=" + before)) ?? [];
            if (items.Length == 0)
            {
                break;
            }

            seen.AddRange(items.Select(f => f.GetProperty("id").GetString()!));
            before = seen[^1];
        }

        Assert.Equal(Enumerable.Reverse(uploaded), seen);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.GetAsync("/files?limit=0")).StatusCode);
    }

    [Fact]
    public async Task Health_answers_only_get()
    {
        using var client = fixture.Client(ResourceNames.Voice);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await client.PostAsync("/health", null)).StatusCode);
    }

    private HttpClient InternalClient()
    {
        var client = fixture.Client(ResourceNames.Engagement);
        client.DefaultRequestHeaders.Authorization = new("Bearer", SunaivaAppFixture.InternalToken);
        return client;
    }

    private static object Signup(string eventId, string userId) =>
        new { id = eventId, type = "user.signed_up", data = new { id = userId, email = $"{userId}@example.com" } };

    private static MultipartFormDataContent Upload(string text, string fileName)
    {
        var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        part.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        part.Headers.ContentDisposition = new ContentDispositionHeaderValue("form-data") { Name = "\"file\"", FileName = "\"" + fileName.Replace("\\", "\\\\", StringComparison.Ordinal) + "\"" };
        form.Add(part);
        return form;
    }

    private static async Task<HttpResponseMessage> SendUpload(HttpClient client, string text, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/files") { Content = Upload(text, "k.txt") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        return await client.SendAsync(request);
    }

    private async Task<long> CountAsync(string sql, string value)
    {
        await using var connection = new NpgsqlConnection(await fixture.ConnectionStringAsync(ResourceNames.EngagementDb));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("v", value);
        return (long)(await command.ExecuteScalarAsync() ?? 0L);
    }
}
