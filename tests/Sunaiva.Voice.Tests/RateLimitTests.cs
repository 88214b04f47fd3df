using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sunaiva.Testing;

namespace Sunaiva.Voice.Tests;

/// <summary>The service defaults' inbound rate limit, as the voice service applies it.</summary>
[Collection(ServersCollection.Name)]
public sealed class RateLimitTests(LocalServers servers)
{
    [Fact]
    public async Task User_past_the_configured_limit_gets_429_with_retry_after_while_others_and_health_still_pass()
    {
        await using var app = new VoiceApp(servers, new Dictionary<string, string?> { ["RateLimiting:PermitsPerUser"] = "2", ["RateLimiting:Window"] = "01:00:00" });
        await app.StartAsync();
        using var ada = app.ClientFor("ada");
        using var bob = app.ClientFor("bob");

        (await ada.PutAsJsonAsync("/voice/preferences", new { voiceId = "en-GB-female-1" })).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync("/voice/preferences")).StatusCode);
        var refused = await ada.GetAsync("/voice/preferences");

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Equal(429, (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync("/voice/preferences")).StatusCode);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await ada.GetAsync("/health")).StatusCode);
        }
    }
}
