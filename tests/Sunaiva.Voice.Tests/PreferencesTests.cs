using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sunaiva.Testing;

namespace Sunaiva.Voice.Tests;

[Collection(ServersCollection.Name)]
public sealed class PreferencesTests(LocalServers servers) : IAsyncLifetime
{
    private readonly VoiceApp _app = new(servers);

    public Task InitializeAsync() => _app.StartAsync();

    public async Task DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task Stored_preference_is_read_back_with_the_language_of_the_voice_and_the_time_it_was_set()
    {
        using var ada = _app.ClientFor("ada");

        var put = await ada.PutAsJsonAsync("/voice/preferences", new { voiceId = "pt-BR-female-1" });
        var read = await ada.GetFromJsonAsync<JsonElement>("/voice/preferences");

        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        Assert.Equal("pt-BR-female-1", read.GetProperty("voiceId").GetString());
        Assert.Equal("pt-BR", read.GetProperty("language").GetString());
        Assert.Equal(_app.Time.GetUtcNow().UtcDateTime, read.GetProperty("updatedAt").GetDateTime().ToUniversalTime(), TimeSpan.FromMilliseconds(1));
        Assert.Equal("pt-BR-female-1", await _app.ScalarAsync<string>("SELECT voice_id FROM voice_preferences WHERE user_id = @u", ("u", "ada")));
    }

    [Fact]
    public async Task A_later_choice_replaces_the_earlier_one()
    {
        using var ada = _app.ClientFor("ada");

        (await ada.PutAsJsonAsync("/voice/preferences", new { voiceId = "en-GB-female-1" })).EnsureSuccessStatusCode();
        _app.Time.Advance(TimeSpan.FromMinutes(5));
        (await ada.PutAsJsonAsync("/voice/preferences", new { voiceId = "en-US-male-2", language = "en" })).EnsureSuccessStatusCode();
        var read = await ada.GetFromJsonAsync<JsonElement>("/voice/preferences");

        Assert.Equal("en-US-male-2", read.GetProperty("voiceId").GetString());
        Assert.Equal("en", read.GetProperty("language").GetString());
        Assert.Equal(1L, await _app.ScalarAsync<long>("SELECT count(*) FROM voice_preferences WHERE user_id = @u", ("u", "ada")));
    }

    [Fact]
    public async Task Another_users_preference_is_neither_read_nor_changed()
    {
        using var ada = _app.ClientFor("ada");
        using var bob = _app.ClientFor("bob");
        (await ada.PutAsJsonAsync("/voice/preferences", new { voiceId = "en-GB-female-1" })).EnsureSuccessStatusCode();

        var bobsRead = await bob.GetAsync("/voice/preferences");
        (await bob.PutAsJsonAsync("/voice/preferences", new { voiceId = "de-DE-male-1" })).EnsureSuccessStatusCode();

        Assert.Equal(HttpStatusCode.NotFound, bobsRead.StatusCode);
        Assert.Equal("application/problem+json", bobsRead.Content.Headers.ContentType?.MediaType);
        Assert.Equal("en-GB-female-1", (await ada.GetFromJsonAsync<JsonElement>("/voice/preferences")).GetProperty("voiceId").GetString());
    }

    [Fact]
    public async Task Invalid_voice_preference_gets_400_problem_details_and_writes_nothing()
    {
        using var client = _app.ClientFor("mallory");

        var response = await client.PutAsJsonAsync("/voice/preferences", new { voiceId = "<script>" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Invalid voice", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/voice/preferences")).StatusCode);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM voice_preferences WHERE user_id = @u", ("u", "mallory")));
    }

    [Fact]
    public async Task Invalid_language_gets_400_problem_details_and_writes_nothing()
    {
        using var client = _app.ClientFor("mallory");

        var response = await client.PutAsJsonAsync("/voice/preferences", new { voiceId = "en-GB-female-1", language = "english\n" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Invalid language", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString());
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM voice_preferences WHERE user_id = @u", ("u", "mallory")));
    }

    [Fact]
    public async Task Anonymous_caller_gets_401_problem_details()
    {
        using var anonymous = _app.CreateClient();

        var response = await anonymous.GetAsync("/voice/preferences");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
