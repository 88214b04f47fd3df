using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Sunaiva.Email.Tests;

public sealed class UnsubscribeAndTrackingTests(EmailServers servers) : EmailTestBase(servers)
{
    [Fact]
    public async Task A_user_who_unsubscribes_with_one_click_gets_nothing_more()
    {
        var address = NewAddress("leaver");
        await App.SignUpAsync("user-leaver", address, "Lea", "en");
        var welcome = Assert.Single(await Mail.WaitForAsync(address, 1));

        using var client = App.Anonymous();
        using var form = new FormUrlEncodedContent([new("List-Unsubscribe", "One-Click")]);
        var response = await client.PostAsync(Local(UnsubscribeUrl(welcome)), form);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await App.AdvanceAsync(TimeSpan.FromDays(8));

        Assert.Single(await Mail.ListAsync(address));
        Assert.Equal(["sent", "suppressed", "suppressed", "suppressed"],
            await App.QueryAsync<string>("SELECT status FROM sent_emails WHERE user_id = 'user-leaver' ORDER BY kind"));
    }

    [Fact]
    public async Task An_altered_unsubscribe_token_changes_nothing()
    {
        var address = NewAddress("kept");
        await App.SignUpAsync("user-kept", address, "Kim", "en");
        var url = UnsubscribeUrl(Assert.Single(await Mail.WaitForAsync(address, 1)));

        using var client = App.Anonymous();
        var tampered = url[..^3] + (url[^3] == 'A' ? "B" : "A") + url[^2..];
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsync(Local(tampered), null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await client.PostAsync("/email/unsubscribe", null)).StatusCode);
        Assert.Equal(0, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM email_suppressions"));
    }

    [Fact]
    public async Task Preferences_turn_a_category_off_and_back_on_and_are_honoured_at_send_time()
    {
        var address = NewAddress("prefs");
        await App.SignUpAsync("user-prefs", address, "Pat", "en");
        await Mail.WaitForAsync(address, 1);
        using var user = App.ClientFor("user-prefs");

        var initial = await user.GetFromJsonAsync<JsonObject>("/email/preferences");
        Assert.True(initial!["categories"]!["onboarding"]!.GetValue<bool>());

        var off = await user.PutAsJsonAsync("/email/preferences", new { categories = new { onboarding = false } });
        Assert.False((await off.Content.ReadFromJsonAsync<JsonObject>())!["categories"]!["onboarding"]!.GetValue<bool>());
        await App.AdvanceAsync(TimeSpan.FromDays(1));
        Assert.Equal("suppressed", await App.QueryOneAsync<string>("SELECT status FROM sent_emails WHERE user_id = 'user-prefs' AND kind = 'welcome-2'"));

        var on = await user.PutAsJsonAsync("/email/preferences", new { categories = new { onboarding = true } });
        Assert.True((await on.Content.ReadFromJsonAsync<JsonObject>())!["categories"]!["onboarding"]!.GetValue<bool>());
        await App.AdvanceAsync(TimeSpan.FromDays(2));
        await Mail.WaitForAsync(address, 2);

        Assert.Equal(HttpStatusCode.BadRequest, (await user.PutAsJsonAsync("/email/preferences", new { categories = new { transactional = false } })).StatusCode);
        using var stranger = App.ClientFor("user-unknown");
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.GetAsync("/email/preferences")).StatusCode);
    }

    [Fact]
    public async Task Opens_and_clicks_are_counted_per_message_and_clicks_redirect_only_inside_the_signed_token()
    {
        var address = NewAddress("reader");
        await App.SignUpAsync("user-reader", address, "Rea", "en");
        var mail = Assert.Single(await Mail.WaitForAsync(address, 1));
        using var client = App.Anonymous();

        var pixel = System.Text.RegularExpressions.Regex.Match(mail.Html, @"https://engagement\.test/email/o/[^""]+\.gif").Value;
        var open = await client.GetAsync(Local(pixel));
        Assert.Equal("image/gif", open.Content.Headers.ContentType!.MediaType);
        await client.GetAsync(Local(pixel));

        var click = WelcomeEmailTests.ClickLink().Match(mail.Html).Value;
        var redirect = await client.GetAsync(Local(click));
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Equal("https://app.test/", redirect.Headers.Location!.ToString());

        // A token naming another URL, or altered, redirects nowhere.
        var token = click[(click.LastIndexOf('/') + 1)..];
        var parts = token.Split('.');
        var forged = Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlEncode(
            System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new[] { mail.MessageId.Split('@')[0], "https://evil.example/" })) + "." + parts[1];
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/email/c/" + forged)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/email/c/" + Uri.EscapeDataString("https://evil.example/"))).StatusCode);

        var counts = await App.QueryOneAsync<(int Opens, int Clicks)>("SELECT opens, clicks FROM sent_emails WHERE user_id = 'user-reader' AND kind = 'welcome-1'");
        Assert.Equal((2, 1), counts);
    }
}

public sealed class UnsubscribePageTests(EmailServers servers) : EmailTestBase(servers)
{
    [Fact]
    public async Task The_footer_link_shows_a_confirmation_page_and_a_GET_never_unsubscribes()
    {
        var address = NewAddress("footer");
        await App.SignUpAsync("user-footer", address, "Flo", "en");
        var mail = Assert.Single(await Mail.WaitForAsync(address, 1));
        Assert.Contains(System.Net.WebUtility.HtmlEncode(UnsubscribeUrl(mail)), mail.Html, StringComparison.Ordinal);

        using var client = App.Anonymous();
        var page = await client.GetAsync(Local(UnsubscribeUrl(mail)));
        Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<form method=\"post\"", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM email_suppressions"));
    }
}

public sealed class DatabaseDownTests(EmailServers servers) : EmailTestBase(servers)
{
    [Fact]
    public async Task Email_links_answer_503_with_retry_after_while_the_database_is_unreachable()
    {
        var address = NewAddress("down");
        await App.SignUpAsync("user-down", address, "Dan", "en");
        var url = UnsubscribeUrl(Assert.Single(await Mail.WaitForAsync(address, 1)));

        // Every connection of this app's database is terminated and new ones refused.
        await using (var admin = new Npgsql.NpgsqlConnection(Servers.Servers.PostgresConnectionString("postgres")))
        {
            await admin.OpenAsync();
            await using var block = new Npgsql.NpgsqlCommand($"ALTER DATABASE \"{App.Database}\" ALLOW_CONNECTIONS false", admin);
            await block.ExecuteNonQueryAsync();
            await using var kill = new Npgsql.NpgsqlCommand($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{App.Database}'", admin);
            await kill.ExecuteNonQueryAsync();
        }

        Npgsql.NpgsqlConnection.ClearAllPools();
        using var client = App.Anonymous();
        var response = await client.PostAsync(Local(url), null);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.NotNull(response.Headers.RetryAfter);

        await using (var admin = new Npgsql.NpgsqlConnection(Servers.Servers.PostgresConnectionString("postgres")))
        {
            await admin.OpenAsync();
            await using var allow = new Npgsql.NpgsqlCommand($"ALTER DATABASE \"{App.Database}\" ALLOW_CONNECTIONS true", admin);
            await allow.ExecuteNonQueryAsync();
        }

        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.PostAsync(Local(url), null)).StatusCode);
    }
}
