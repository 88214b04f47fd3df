using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Testing;
using Sunaiva.Voice.Catalog;
using Sunaiva.Voice.Entitlements;
using Sunaiva.Voice.Realtime;

namespace Sunaiva.Voice.Tests;

/// <summary>Cloud realtime keys against a fake OpenAI endpoint: the documented request, the daily limit, fallbacks.</summary>
[Collection(ServersCollection.Name)]
public sealed class RealtimeSessionTests(LocalServers servers) : IAsyncLifetime
{
    private const string ServerKey = "sk-test-server-key-never-leaves";
    private FakeOpenAIRealtime _openAi = null!;
    private VoiceApp _app = null!;

    public async Task InitializeAsync()
    {
        VoiceApp? app = null;
        _openAi = await FakeOpenAIRealtime.StartAsync(() => app!.Time.GetUtcNow());
        _app = app = new VoiceApp(servers, new Dictionary<string, string?>
        {
            ["Voice:OpenAI:ApiKey"] = ServerKey,
            ["Voice:OpenAI:BaseUrl"] = _openAi.BaseUrl,
            ["Voice:OpenAI:MaxSessionMinutes"] = "4",
            ["Voice:Entitlements:FreeMinutesPerDay"] = "10",
            ["Voice:Entitlements:Plans:plus-monthly"] = "30",
            // One failure must not open the circuit for the next test step.
            ["Integration:Providers:openai-realtime:CircuitBreaker:MinimumThroughput"] = "100",
            ["Integration:Providers:openai-realtime:Retry:MaxRetries"] = "0",
        });
        await _app.StartAsync();
        // Keep clear of midnight: the test days start at 10:00 UTC.
        var now = _app.Time.GetUtcNow();
        _app.Time.Advance(now.Date.AddDays(1).AddHours(10) - now);
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        await _openAi.DisposeAsync();
    }

    [Fact]
    public async Task Voice_session_in_auto_mode_is_cloud_with_a_grant_for_its_own_id_until_the_minutes_run_out_then_local()
    {
        using var ada = _app.ClientFor("ada");

        var first = JsonDocument.Parse(await (await ada.PostAsJsonAsync("/voice/sessions", new { voiceId = "en-GB-female-1" })).Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("cloud", first.GetProperty("mode").GetString());
        Assert.Equal(first.GetProperty("id").GetString(), first.GetProperty("cloud").GetProperty("sessionId").GetString());
        Assert.StartsWith("ek_test", first.GetProperty("cloud").GetProperty("clientSecret").GetString());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("local").ValueKind);

        // 10 free minutes, at most 4 per key: the third key gets the last 2, the fourth finds none and stays local.
        for (var i = 0; i < 2; i++)
        {
            var granted = JsonDocument.Parse(await (await ada.PostAsJsonAsync("/voice/sessions", new { voiceId = "en-GB-female-1" })).Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("cloud", granted.GetProperty("mode").GetString());
        }

        var spent = await ada.PostAsJsonAsync("/voice/sessions", new { voiceId = "en-GB-female-1", mode = "auto" });
        var local = JsonDocument.Parse(await spent.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.Created, spent.StatusCode);
        Assert.Equal("local", local.GetProperty("mode").GetString());
        Assert.Contains("minutes", local.GetProperty("modeReason").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("/stream", local.GetProperty("local").GetProperty("streamUrl").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, _openAi.Requests.Count);
    }

    [Fact]
    public async Task Mint_sends_the_documented_request_with_the_server_key_and_returns_the_client_secret_without_it()
    {
        using var ada = _app.ClientFor("ada");
        var openAiVoice = _app.Services.GetRequiredService<VoiceCatalog>().Find("en-GB-female-1")!.OpenAi;

        var response = await ada.PostAsJsonAsync("/voice/realtime/sessions", new { voiceId = "en-GB-female-1", turnDetection = "server_vad" });
        var text = await response.Content.ReadAsStringAsync();
        var grant = JsonDocument.Parse(text).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (authorization, body) = Assert.Single(_openAi.Requests);
        Assert.Equal($"Bearer {ServerKey}", authorization);
        Assert.Equal("created_at", body["expires_after"]!["anchor"]!.GetValue<string>());
        Assert.InRange(body["expires_after"]!["seconds"]!.GetValue<int>(), 10, 7200);
        var session = body["session"]!;
        Assert.Equal("realtime", session["type"]!.GetValue<string>());
        Assert.Equal("gpt-realtime", session["model"]!.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(session["instructions"]!.GetValue<string>()));
        Assert.Equal(openAiVoice, session["audio"]!["output"]!["voice"]!.GetValue<string>());
        Assert.Equal("server_vad", session["audio"]!["input"]!["turn_detection"]!["type"]!.GetValue<string>());

        Assert.StartsWith("ek_test", grant.GetProperty("clientSecret").GetString());
        Assert.Equal(openAiVoice, grant.GetProperty("voice").GetString());
        Assert.Equal("gpt-realtime", grant.GetProperty("model").GetString());
        Assert.Equal(new Uri(new Uri(_openAi.BaseUrl), "realtime/calls").ToString(), grant.GetProperty("webRtcUrl").GetString());
        Assert.Equal(_app.Time.GetUtcNow().AddSeconds(120).ToUnixTimeSeconds(), grant.GetProperty("expiresAt").GetDateTimeOffset().ToUnixTimeSeconds());
        Assert.Equal(240, grant.GetProperty("maxSessionSeconds").GetInt32());
        Assert.Equal(360, grant.GetProperty("remainingSecondsToday").GetInt32());
        Assert.DoesNotContain(ServerKey, text, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daily_limit_is_enforced_with_a_local_offer_and_resets_on_the_next_utc_day()
    {
        using var ada = _app.ClientFor("ada");

        var granted = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            var ok = await ada.PostAsJsonAsync("/voice/realtime/sessions", new { voiceId = "en-US-male-1" });
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            granted.Add((await ok.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("maxSessionSeconds").GetInt32());
        }

        var refused = await ada.PostAsJsonAsync("/voice/realtime/sessions", new { voiceId = "en-US-male-1" });
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        var bob = await _app.ClientFor("bob").PostAsJsonAsync("/voice/realtime/sessions", new { voiceId = "en-US-male-1" });

        Assert.Equal([240, 240, 120], granted);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Equal(["local", "text"], problem.GetProperty("offeredModes").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(10, problem.GetProperty("limitMinutes").GetInt32());
        Assert.Equal(TimeSpan.FromHours(14), refused.Headers.RetryAfter?.Delta);
        Assert.Equal(4, _openAi.Requests.Count); // three for ada, one for bob; none for the refused one
        Assert.Equal(HttpStatusCode.OK, bob.StatusCode);

        _app.Time.Advance(TimeSpan.FromHours(13) + TimeSpan.FromMinutes(59));
        var stillRefused = await ada.PostAsJsonAsync("/voice/realtime/sessions", new { voiceId = "en-US-male-1" });
        _app.Time.Advance(TimeSpan.FromMinutes(2));
        var nextDay = await ada.PostAsJsonAsync("/voice/realtime/sessions", new { voiceId = "en-US-male-1" });

        Assert.Equal(HttpStatusCode.TooManyRequests, stillRefused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, nextDay.StatusCode);
        Assert.Equal(240, (await nextDay.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("maxSessionSeconds").GetInt32());
    }

    [Fact]
    public async Task Reported_usage_gives_back_the_unused_minutes_and_another_users_session_is_404()
    {
        using var ada = _app.ClientFor("ada");
        using var mallory = _app.ClientFor("mallory");
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add((await (await ada.PostAsJsonAsync("/voice/realtime/sessions", new { })).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("sessionId").GetString()!);
        }

        var foreign = await mallory.PostAsJsonAsync($"/voice/sessions/{ids[0]}/usage", new { seconds = 1 });
        var report = await ada.PostAsJsonAsync($"/voice/sessions/{ids[0]}/usage", new { seconds = 60 });
        var again = await ada.PostAsJsonAsync($"/voice/sessions/{ids[0]}/usage", new { seconds = 60 });
        var over = await ada.PostAsJsonAsync($"/voice/sessions/{ids[1]}/usage", new { seconds = 5000 });
        var afterReport = await ada.PostAsJsonAsync("/voice/realtime/sessions", new { });

        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal("application/problem+json", foreign.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        Assert.Equal(60, (await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usedSeconds").GetInt32());
        Assert.Equal(240, (await over.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("usedSeconds").GetInt32());
        // 600 - (60 + 240 + 120) = 180 left: the new key grants 180 s.
        Assert.Equal(HttpStatusCode.OK, afterReport.StatusCode);
        Assert.Equal(180, (await afterReport.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("maxSessionSeconds").GetInt32());
    }

    [Fact]
    public async Task Failing_openai_answers_503_with_retry_after_and_the_local_offer_and_spends_no_minutes()
    {
        using var ada = _app.ClientFor("ada");
        _openAi.FailWith = 500;

        var response = await ada.PostAsJsonAsync("/voice/realtime/sessions", new { voiceId = "fr-FR-female-1" });
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        _openAi.FailWith = null;
        var recovered = await ada.PostAsJsonAsync("/voice/realtime/sessions", new { voiceId = "fr-FR-female-1" });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
        Assert.Equal(["local", "text"], problem.GetProperty("offeredModes").EnumerateArray().Select(m => m.GetString()));
        Assert.Equal(1L, await _app.ScalarAsync<long>("SELECT count(*) FROM voice_realtime_usage WHERE user_id = 'ada' AND released"));
        Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
        Assert.Equal(360, (await recovered.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("remainingSecondsToday").GetInt32());
    }

    [Fact]
    public async Task Subscription_events_raise_the_daily_minutes_to_the_plan_and_cancellation_returns_to_free()
    {
        using var ada = _app.ClientFor("ada");
        await HandleAsync("evt_act", EventTypes.SubscriptionActivated, new SubscriptionChangedData("sub_1", "ada", "active", "plus-monthly"));

        var paid = await (await ada.PostAsJsonAsync("/voice/realtime/sessions", new { })).Content.ReadFromJsonAsync<JsonElement>();
        await HandleAsync("evt_cancel", EventTypes.SubscriptionCanceled, new SubscriptionChangedData("sub_1", "ada", "canceled", "plus-monthly"));
        await HandleAsync("evt_act_late", EventTypes.SubscriptionActivated, new SubscriptionChangedData("sub_1", "ada", "active", "plus-monthly"));
        var free = await (await ada.PostAsJsonAsync("/voice/realtime/sessions", new { })).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(30 * 60 - 240, paid.GetProperty("remainingSecondsToday").GetInt32());
        Assert.Equal(10 * 60 - 480, free.GetProperty("remainingSecondsToday").GetInt32());
        Assert.False(await _app.ScalarAsync<bool>("SELECT active FROM voice_subscriptions WHERE subscription_id = 'sub_1'"));
    }

    [Fact]
    public async Task Retried_request_with_the_same_idempotency_key_keeps_its_session_and_spends_no_more_minutes()
    {
        using var ada = _app.ClientFor("ada");

        async Task<JsonElement> MintAsync(string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/voice/realtime/sessions") { Content = JsonContent.Create(new { }) };
            request.Headers.Add("Idempotency-Key", key);
            var response = await ada.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return await response.Content.ReadFromJsonAsync<JsonElement>();
        }

        var first = await MintAsync("tap-1");
        var retried = await MintAsync("tap-1");
        var other = await MintAsync("tap-2");

        Assert.Equal(first.GetProperty("sessionId").GetString(), retried.GetProperty("sessionId").GetString());
        Assert.NotEqual(first.GetProperty("clientSecret").GetString(), retried.GetProperty("clientSecret").GetString());
        Assert.Equal(360, retried.GetProperty("remainingSecondsToday").GetInt32());
        Assert.Equal(120, other.GetProperty("remainingSecondsToday").GetInt32());
        Assert.Equal(480L, await _app.ScalarAsync<long>("SELECT sum(reserved_seconds) FROM voice_realtime_usage WHERE user_id = 'ada'"));
    }

    [Fact]
    public async Task Openai_switched_off_by_chaos_answers_503_with_retry_after_and_no_call_leaves()
    {
        using var ops = _app.ClientFor("ops-1", ops: true);
        (await ops.PutAsJsonAsync("/ops/chaos", new { provider = "openai-realtime", outage = true })).EnsureSuccessStatusCode();

        var response = await _app.ClientFor("ada").PostAsJsonAsync("/voice/realtime/sessions", new { });

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
        Assert.Equal("Cloud voice unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("title").GetString());
        Assert.Empty(_openAi.Requests);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM voice_realtime_usage WHERE NOT released"));
    }

    [Fact]
    public async Task Minter_without_an_openai_key_offers_the_local_pipeline()
    {
        await using var app = new VoiceApp(servers);
        await app.StartAsync();

        var result = await app.Services.GetRequiredService<RealtimeMinter>().MintAsync("ada", new RealtimeSessionSpec("en-GB-female-1"), CancellationToken.None);
        var response = await app.ClientFor("ada").PostAsJsonAsync("/voice/realtime/sessions", new { });

        Assert.IsType<RealtimeMintResult.NotConfigured>(result);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(["local", "text"], (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("offeredModes").EnumerateArray().Select(m => m.GetString()));
        Assert.Empty(_openAi.Requests);
    }

    [Fact]
    public async Task Unknown_voice_is_404_and_reserves_nothing()
    {
        var response = await _app.ClientFor("ada").PostAsJsonAsync("/voice/realtime/sessions", new { voiceId = "en-GB-female-9" });

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM voice_realtime_usage"));
    }

    private async Task HandleAsync(string id, string type, object data)
    {
        var handler = _app.Services.GetServices<IIntegrationEventHandler>().OfType<SubscriptionEntitlementHandler>().Single();
        await using var connection = new NpgsqlConnection(_app.ConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await handler.HandleAsync(new IntegrationEvent(id, type, "billing", _app.Time.GetUtcNow(), JsonSerializer.SerializeToElement(data, EventJson.Options)), connection, transaction, CancellationToken.None);
        await transaction.CommitAsync();
    }
}
