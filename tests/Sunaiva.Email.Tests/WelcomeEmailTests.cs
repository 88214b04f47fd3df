using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;

namespace Sunaiva.Email.Tests;

public sealed partial class WelcomeEmailTests(EmailServers servers) : EmailTestBase(servers)
{
    [Fact]
    public async Task Signup_sends_the_day0_welcome_with_the_name_both_parts_and_one_click_unsubscribe_headers()
    {
        var address = NewAddress("ada");
        await App.SignUpAsync("user-ada", address, "Ada Lovelace", "en");

        var mail = Assert.Single(await Mail.WaitForAsync(address, 1));
        Assert.Equal("Welcome to Sunaiva, Ada", mail.Subject);
        Assert.Contains("Hi Ada,", mail.Text, StringComparison.Ordinal);
        Assert.Contains("Hi Ada,", mail.Html, StringComparison.Ordinal);
        Assert.Contains("<table role=\"presentation\"", mail.Html, StringComparison.Ordinal);
        Assert.Contains("Your companion remembers what matters to you.", mail.Html, StringComparison.Ordinal); // preheader
        Assert.Equal("welcome-1", mail.Headers["x-sunaiva-kind"]);
        Assert.StartsWith(EngagementApp.PublicBase + "/email/unsubscribe?token=", UnsubscribeUrl(mail), StringComparison.Ordinal);
        Assert.Equal("List-Unsubscribe=One-Click", mail.Headers["list-unsubscribe-post"]);
        Assert.Contains(EngagementApp.PublicBase + "/email/o/", mail.Html, StringComparison.Ordinal);

        var row = await App.QueryOneAsync<(string Status, string Category, string Language)>(
            "SELECT status, category, language FROM sent_emails WHERE user_id = 'user-ada' AND kind = 'welcome-1'");
        Assert.Equal(("sent", "onboarding", "en"), row);
    }

    [Fact]
    public async Task The_welcome_speaks_the_users_language_and_falls_back_to_english()
    {
        var portuguese = NewAddress("joao");
        var japanese = NewAddress("aiko");
        await App.SignUpAsync("user-pt", portuguese, "João Silva", "pt-BR");
        await App.SignUpAsync("user-ja", japanese, "Aiko", "ja");

        Assert.Equal("Boas-vindas à Sunaiva, João", Assert.Single(await Mail.WaitForAsync(portuguese, 1)).Subject);
        Assert.Equal("Welcome to Sunaiva, Aiko", Assert.Single(await Mail.WaitForAsync(japanese, 1)).Subject);
    }

    [Fact]
    public async Task A_name_with_markup_is_escaped_and_a_name_with_CRLF_cannot_add_headers()
    {
        var markup = NewAddress("markup");
        var crlf = NewAddress("crlf");
        var victim = NewAddress("victim");
        await App.SignUpAsync("user-markup", markup, "<b>Eve</b><script>alert(1)</script>", "en");
        await App.SignUpUncheckedAsync("user-crlf", crlf, $"Mallory\r\nBcc: {victim}\r\nSubject: You won", "en");

        var marked = Assert.Single(await Mail.WaitForAsync(markup, 1));
        Assert.DoesNotContain("<b>Eve</b>", marked.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", marked.Html, StringComparison.Ordinal);
        Assert.Contains("&lt;b&gt;Eve&lt;/b&gt;", marked.Html, StringComparison.Ordinal);
        Assert.Contains("<b>Eve</b>", marked.Text, StringComparison.Ordinal); // plain text shows it as typed

        var injected = Assert.Single(await Mail.WaitForAsync(crlf, 1));
        Assert.Equal("Welcome to Sunaiva, Mallory", injected.Subject);
        Assert.Equal([crlf], injected.To);
        Assert.False(injected.Headers.ContainsKey("bcc"));
        Assert.Empty(await Mail.ListAsync(victim));
    }

    [Fact]
    public async Task A_redelivered_signup_event_queues_no_second_welcome()
    {
        var address = NewAddress("twice");
        await App.SignUpAsync("user-twice", address, "Twice", "en");
        await App.PublishAsync("evt_user-twice", Sunaiva.Contracts.EventTypes.UserSignedUp,
            new Sunaiva.Contracts.UserSignedUp("user-twice", address, "Twice", "en", null, null, null, null));
        await App.PublishAsync("evt_other_id", Sunaiva.Contracts.EventTypes.UserSignedUp,
            new Sunaiva.Contracts.UserSignedUp("user-twice", address, "Twice", "en", null, null, null, null));

        await Mail.WaitForAsync(address, 1);
        Assert.Equal(1, await App.QueryOneAsync<long>("SELECT COUNT(*) FROM sent_emails WHERE user_id = 'user-twice'"));
        Assert.Single(await Mail.ListAsync(address));
    }

    [Fact]
    public async Task Ops_preview_renders_a_template_with_sample_data_in_the_asked_language()
    {
        using var ops = App.ClientFor("ops-1", ops: true);
        var preview = await ops.GetStringAsync("/ops/email/templates/welcome-2/preview?lang=de");
        Assert.Contains("Ada, sag einfach mal Hallo", preview, StringComparison.Ordinal);

        using var user = App.ClientFor("user-1");
        Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync("/ops/email/templates/welcome-2/preview")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ops.GetAsync("/ops/email/templates/nope/preview")).StatusCode);
    }

    [Fact]
    public async Task Ops_preview_renders_every_template_including_the_reengagement_and_report_ones()
    {
        using var ops = App.ClientFor("ops-1", ops: true);
        var names = await ops.GetFromJsonAsync<List<string>>("/ops/email/templates");
        Assert.Contains("influencer-report", names!);
        Assert.Contains("reengage-inactive", names!);
        foreach (var name in names!)
        {
            var response = await ops.GetAsync($"/ops/email/templates/{name}/preview");
            Assert.True(response.IsSuccessStatusCode, $"{name}: {(int)response.StatusCode}");
        }

        var report = await ops.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("/ops/email/templates/influencer-report/preview");
        Assert.Equal("Your Sunaiva performance for October 2026", report!["subject"]!.GetValue<string>());
        Assert.Contains("Carried over: 46.50 USD", report["text"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("src=\"cid:chart@sample\"", report["html"]!.GetValue<string>(), StringComparison.Ordinal);
        var inactive = await ops.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>("/ops/email/templates/reengage-inactive/preview");
        Assert.Contains("It has been 14 days", inactive!["text"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [GeneratedRegex(@"https://engagement\.test/email/c/[A-Za-z0-9_\-\.]+")]
    internal static partial Regex ClickLink();
}
