using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Npgsql;
using Sunaiva.Testing;

namespace Sunaiva.AppHost.Tests;

/// <summary>Inputs that used to be accepted and then could not be served, and the browser and token hardening of round 3.</summary>
[Collection(SunaivaAppCollection.Name)]
public sealed class FaultInputTests(SunaivaAppFixture fixture)
{
    [Theory]
    [InlineData("a\"b@x.com")]
    [InlineData("a<b>@x.com")]
    [InlineData("a,b@x.com")]
    [InlineData("a;b@x.com")]
    [InlineData("a:b@x.com")]
    [InlineData("a\\b@x.com")]
    [InlineData(".a@x.com")]
    [InlineData("a..b@x.com")]
    [InlineData("a@example..com")]
    [InlineData("a(b)@example.com")]
    [InlineData("a@example.com.")]
    public async Task Signup_with_an_email_the_mailer_cannot_send_as_written_gets_422_and_writes_nothing(string email)
    {
        var user = "mail_" + Guid.NewGuid().ToString("N")[..10];
        using var engagement = Faults.InternalEvents(fixture);
        var response = await engagement.PostAsJsonAsync("/internal/events", Faults.Signup("evt_" + user, user, email));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Null(await EmailOfAsync(user));
    }

    [Fact]
    public async Task Signup_email_is_stored_normalized()
    {
        var user = "norm_" + Guid.NewGuid().ToString("N")[..10];
        using var engagement = Faults.InternalEvents(fixture);
        var response = await engagement.PostAsJsonAsync("/internal/events", Faults.Signup("evt_" + user, user, $"Ada.{user}@Example.COM"));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal($"Ada.{user}@example.com", await EmailOfAsync(user));
    }

    [Fact]
    public async Task Repeated_signup_with_another_email_gets_409_and_keeps_the_first_address()
    {
        var user = "resign_" + Guid.NewGuid().ToString("N")[..10];
        using var engagement = Faults.InternalEvents(fixture);
        Assert.Equal(HttpStatusCode.Accepted, (await engagement.PostAsJsonAsync("/internal/events", Faults.Signup("evt_a_" + user, user))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await engagement.PostAsJsonAsync("/internal/events", Faults.Signup("evt_b_" + user, user, $"{user}@EXAMPLE.com"))).StatusCode);

        var changed = await engagement.PostAsJsonAsync("/internal/events", Faults.Signup("evt_c_" + user, user, $"new-{user}@example.com"));

        Assert.Equal(HttpStatusCode.Conflict, changed.StatusCode);
        Assert.Equal("application/problem+json", changed.Content.Headers.ContentType?.MediaType);
        Assert.Equal($"{user}@example.com", await EmailOfAsync(user));
    }

    [Theory]
    [InlineData("user\u0000x")]
    [InlineData("user\u0007x")]
    [InlineData("user\u202ex")]
    public async Task User_active_with_a_control_character_in_the_id_gets_422(string id)
    {
        using var engagement = Faults.InternalEvents(fixture);
        var response = await engagement.PostAsJsonAsync("/internal/events", new { id = "evt_act_" + Guid.NewGuid().ToString("N")[..10], type = "user.active", data = new { id } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Chunked_200_MB_upload_gets_413_problem()
    {
        using var media = Faults.RawClient(fixture, ResourceNames.Media, "big-" + Guid.NewGuid().ToString("N")[..8], TimeSpan.FromMinutes(2));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/files") { Content = new EndlessMultipart(200L * 1024 * 1024) };
        var response = await media.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Over_long_uri_gets_414_problem()
    {
        using var client = Faults.RawClient(fixture, ResourceNames.Voice);
        var response = await client.GetAsync("/?q=" + new string('a', 9000));
        Assert.Equal(HttpStatusCode.RequestUriTooLong, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Oversized_headers_get_431_problem()
    {
        using var client = Faults.RawClient(fixture, ResourceNames.Voice);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Add("X-Padding", new string('b', 40_000));
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Html_pages_forbid_framing_and_sniffing()
    {
        using var client = Faults.RawClient(fixture, ResourceNames.Engagement);
        var response = await client.GetAsync("/ops");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("frame-ancestors 'none'", string.Join(";", response.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
    }

    [Theory]
    [InlineData("not-a-jwt")]
    [InlineData("wrong-key")]
    public async Task Rejected_token_gets_only_invalid_token_in_www_authenticate(string kind)
    {
        using var client = Faults.RawClient(fixture, ResourceNames.Media);
        client.DefaultRequestHeaders.Authorization = new("Bearer", kind == "wrong-key"
            ? DevTokens.For("someone", signingKey: "another-signing-key-0123456789-0123456789-xyz")
            : "abc.def.ghi");
        var response = await client.GetAsync("/files");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer error=\"invalid_token\"", Assert.Single(response.Headers.GetValues("WWW-Authenticate")));
    }

    private async Task<string?> EmailOfAsync(string user)
    {
        await using var connection = new NpgsqlConnection(await fixture.ConnectionStringAsync(ResourceNames.EngagementDb));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT email FROM users WHERE id = @id", connection);
        command.Parameters.AddWithValue("id", user);
        return (string?)await command.ExecuteScalarAsync();
    }

    /// <summary>A multipart body of <c>size</c> bytes written as it goes, with no Content-Length (sent chunked).</summary>
    private sealed class EndlessMultipart : HttpContent
    {
        private const string Boundary = "sunaiva-endless";
        private readonly long _size;

        public EndlessMultipart(long size)
        {
            _size = size;
            Headers.ContentType = MediaTypeHeaderValue.Parse($"multipart/form-data; boundary={Boundary}");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"--{Boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n"));
            var block = new byte[64 * 1024];
            Array.Fill(block, (byte)'x');
            for (long written = 0; written < _size; written += block.Length)
            {
                await stream.WriteAsync(block);
            }

            await stream.WriteAsync(Encoding.ASCII.GetBytes($"\r\n--{Boundary}--\r\n"));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
