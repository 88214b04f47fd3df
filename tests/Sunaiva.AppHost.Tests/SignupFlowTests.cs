using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;

namespace Sunaiva.AppHost.Tests;

/// <summary>The conversation backend reports a signup; every service reacts once through the event bus.</summary>
[Collection(SunaivaAppCollection.Name)]
public sealed class SignupFlowTests(SunaivaAppFixture fixture)
{
    [Fact]
    public async Task Signup_posted_three_times_is_handled_exactly_once_by_every_consumer()
    {
        var id = Guid.NewGuid().ToString("N")[..10];
        var user = $"user_{id}";
        var email = $"{id}@example.com";
        await fixture.EnsureInfluencerAsync("COBOL_QUEEN");
        using var engagement = fixture.Client(ResourceNames.Engagement);
        engagement.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", SunaivaAppFixture.InternalToken);
        var body = new
        {
            id = $"evt_{id}",
            type = "user.signed_up",
            data = new { id = user, email, name = "Grace Hopper", language = "en", country = "US", goals = new[] { "learn" }, voice = "en-US-female-3", referralCode = "COBOL_QUEEN" },
        };

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            statuses.Add((await engagement.PostAsJsonAsync("/internal/events", body)).StatusCode);
        }

        Assert.Equal([HttpStatusCode.Accepted, HttpStatusCode.OK, HttpStatusCode.OK], statuses);

        // Billing (another service) attributed the referral, once.
        var billingRows = await Eventually.Get(() => CountAsync(ResourceNames.BillingDb, "SELECT count(*) FROM referral_attributions WHERE user_id = @u", user), n => n > 0);
        Assert.Equal(1, billingRows);
        Assert.Equal(1, await CountAsync(ResourceNames.BillingDb, "SELECT count(*) FROM work_items WHERE key LIKE 'evt:' || @u || ':%' AND status = 'done'", $"evt_{id}"));

        // Voice took the chosen voice.
        var voiceRows = await Eventually.Get(() => CountAsync(ResourceNames.VoiceDb, "SELECT count(*) FROM voice_preferences WHERE user_id = @u AND voice_id = 'en-US-female-3'", user), n => n > 0);
        Assert.Equal(1, voiceRows);

        // Engagement sent exactly one welcome email.
        var mails = await Inbox.ForAsync(fixture, email, m => m.Count > 0);
        await Task.Delay(1000); // give a duplicate the chance to show up before counting
        mails = await Inbox.ForAsync(fixture, email, m => m.Count > 0);
        Assert.Single(mails);
        Assert.Equal("Welcome to Sunaiva, Grace", mails[0].GetProperty("subject").GetString());

        // The email went through the email-delivery chain and is metered against this user.
        using var ops = fixture.Client(ResourceNames.Engagement, "ops-person", ops: true);
        var cost = await Eventually.Get(() => ops.GetFromJsonAsync<JsonElement>($"/ops/usage/users/{user}"), c => c.GetProperty("calls").GetInt64() > 0);
        var row = Assert.Single(cost.GetProperty("byProvider").EnumerateArray());
        Assert.Equal("email-delivery", row.GetProperty("capability").GetString());
        Assert.Equal("smtp-local", row.GetProperty("provider").GetString());
        Assert.Equal(1, row.GetProperty("units").GetDecimal());
    }

    private async Task<long> CountAsync(string database, string sql, string value)
    {
        await using var connection = new NpgsqlConnection(await fixture.ConnectionStringAsync(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("u", value);
        return (long)(await command.ExecuteScalarAsync() ?? 0L);
    }
}
