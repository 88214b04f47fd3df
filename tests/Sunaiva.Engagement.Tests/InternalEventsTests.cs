using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sunaiva.Testing;

namespace Sunaiva.Engagement.Tests;

[Collection(ServersCollection.Name)]
public sealed class InternalEventsTests(LocalServers servers) : IAsyncLifetime
{
    private readonly EngagementApp _app = new(servers);

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Signup_is_accepted_stored_and_published_once_and_a_retry_is_answered_as_a_duplicate()
    {
        using var backend = _app.BackendClient();
        var signup = new { id = "evt_signup_ada", type = "user.signed_up", data = new { id = "ada", email = "ada@example.com", name = "Ada", language = "en-GB", voice = "en-GB-female-1" } };

        var first = await backend.PostAsJsonAsync("/internal/events", signup);
        var retry = await backend.PostAsJsonAsync("/internal/events", signup);

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.False((await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("duplicate").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.True((await retry.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("duplicate").GetBoolean());
        Assert.Equal("ada@example.com", await _app.ScalarAsync<string>("SELECT email FROM users WHERE id = @u", ("u", "ada")));
        Assert.Equal(1L, await _app.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE type = 'user.signed_up'"));
    }

    [Fact]
    public async Task Event_id_reused_for_another_user_gets_409_and_writes_nothing()
    {
        using var backend = _app.BackendClient();
        (await backend.PostAsJsonAsync("/internal/events", new { id = "evt_1", type = "user.signed_up", data = new { id = "ada", email = "ada@example.com" } })).EnsureSuccessStatusCode();

        var reused = await backend.PostAsJsonAsync("/internal/events", new { id = "evt_1", type = "user.signed_up", data = new { id = "bob", email = "bob@example.com" } });

        Assert.Equal(HttpStatusCode.Conflict, reused.StatusCode);
        Assert.Equal("application/problem+json", reused.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM users WHERE id = @u", ("u", "bob")));
    }

    [Fact]
    public async Task Internal_events_without_the_token_get_401_and_store_nothing()
    {
        using var withUserJwt = _app.ClientFor("a-user-with-a-jwt");
        using var withWrongToken = _app.BackendClient("not-the-token");
        var signup = new { id = "evt_x_intruder", type = "user.signed_up", data = new { id = "intruder", email = "x@example.com" } };

        var byUser = await withUserJwt.PostAsJsonAsync("/internal/events", signup);
        var byWrongToken = await withWrongToken.PostAsJsonAsync("/internal/events", signup);

        Assert.Equal(HttpStatusCode.Unauthorized, byUser.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, byWrongToken.StatusCode);
        Assert.Equal("application/problem+json", byUser.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM users WHERE id = @u", ("u", "intruder")));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM internal_events"));
    }

    [Fact]
    public async Task Signup_with_an_invalid_email_gets_422_problem_details()
    {
        using var backend = _app.BackendClient();

        var response = await backend.PostAsJsonAsync("/internal/events", new { id = "evt_bad", type = "user.signed_up", data = new { id = "bad", email = "not-an-email" } });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("email", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM users WHERE id = @u", ("u", "bad")));
    }

    [Fact]
    public async Task User_active_for_a_known_user_moves_last_active_and_for_an_unknown_user_gets_404()
    {
        using var backend = _app.BackendClient();
        (await backend.PostAsJsonAsync("/internal/events", new { id = "evt_s", type = "user.signed_up", data = new { id = "ada", email = "ada@example.com" } })).EnsureSuccessStatusCode();
        var at = _app.Time.GetUtcNow().AddMinutes(-1);

        var known = await backend.PostAsJsonAsync("/internal/events", new { id = "evt_a1", type = "user.active", data = new { id = "ada", at } });
        var unknown = await backend.PostAsJsonAsync("/internal/events", new { id = "evt_a2", type = "user.active", data = new { id = "nobody" } });

        Assert.Equal(HttpStatusCode.Accepted, known.StatusCode);
        Assert.Equal(at.UtcDateTime, (await _app.ScalarAsync<DateTime>("SELECT last_active_at FROM users WHERE id = @u", ("u", "ada"))).ToUniversalTime(), TimeSpan.FromMilliseconds(1));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }
}
