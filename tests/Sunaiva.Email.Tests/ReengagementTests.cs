using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Contracts;
using Sunaiva.Engagement.BillingMail;
using Sunaiva.Engagement.Email;
using Sunaiva.Engagement.Segments;

namespace Sunaiva.Email.Tests;

/// <summary>Segments kept as events arrive, re-engagement mails at the best hour under a frequency cap, and their stop. Time starts Monday 2 November 2026 09:00 UTC.</summary>
public sealed class ReengagementTests(EmailServers servers) : EmailTestBase(servers)
{
    protected override IDictionary<string, string?>? Settings => new Dictionary<string, string?>
    {
        ["Email:Reengagement:CapMessages"] = "1",
    };

    /// <summary>A user row as the backend's signup writes it, without the signup event (so no welcome series).</summary>
    private async Task<string> UserAsync(string id, string name = "Rita Return")
    {
        var address = NewAddress(id);
        await App.ExecuteAsync("INSERT INTO users (id, email, name, language, signed_up_at) VALUES (@id, @address, @name, 'en', @at)",
            new { id, address, name, at = App.Time.GetUtcNow() });
        return address;
    }

    private Task ActiveAsync(string userId) =>
        App.PublishAsync($"act_{userId}_{App.Time.GetUtcNow().UtcTicks}", EventTypes.UserActive, new UserActive(userId, App.Time.GetUtcNow()));

    private Task<List<string>> SegmentsOfAsync(string userId) =>
        App.QueryAsync<string>("SELECT segment FROM segment_members WHERE user_id = @userId ORDER BY segment", new { userId });

    [Fact]
    public async Task A_user_inactive_14_days_enters_the_segment_when_it_becomes_true_and_leaves_it_on_user_active()
    {
        await UserAsync("idle-1");
        await ActiveAsync("idle-1");
        Assert.Empty(await SegmentsOfAsync("idle-1"));

        await App.AdvanceAsync(TimeSpan.FromDays(7) - TimeSpan.FromMinutes(1));
        Assert.Empty(await SegmentsOfAsync("idle-1"));
        await App.AdvanceAsync(TimeSpan.FromMinutes(2));
        Assert.Equal([Segments.Inactive7], await SegmentsOfAsync("idle-1"));

        await App.AdvanceAsync(TimeSpan.FromDays(7) - TimeSpan.FromMinutes(2));
        Assert.Equal([Segments.Inactive7], await SegmentsOfAsync("idle-1"));
        await App.AdvanceAsync(TimeSpan.FromMinutes(2));
        Assert.Equal([Segments.Inactive14], await SegmentsOfAsync("idle-1"));
        // Entered at the moment it became true: 14 days after the last activity, not when a batch noticed.
        var entered = await App.QueryOneAsync<DateTime>("SELECT entered_at FROM segment_members WHERE user_id = 'idle-1'");
        Assert.Equal(new DateTime(2026, 11, 16, 9, 0, 0, DateTimeKind.Utc), entered.ToUniversalTime());

        await ActiveAsync("idle-1");
        Assert.Empty(await SegmentsOfAsync("idle-1"));
        Assert.Equal(
            [(Segments.Inactive7, "entered"), (Segments.Inactive7, "left"), (Segments.Inactive14, "entered"), (Segments.Inactive14, "left")],
            await App.QueryAsync<(string, string)>("SELECT segment, change FROM segment_changes WHERE user_id = 'idle-1' ORDER BY id"));
    }

    [Fact]
    public async Task Using_voice_counts_as_coming_back()
    {
        await UserAsync("voice-1");
        await ActiveAsync("voice-1");
        await App.AdvanceAsync(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        Assert.Equal([Segments.Inactive7], await SegmentsOfAsync("voice-1"));
        await App.PublishAsync("vse-1", EventTypes.VoiceSessionEnded, new { userId = "voice-1", sessionId = "vs_1" });
        Assert.Empty(await SegmentsOfAsync("voice-1"));
    }

    [Fact]
    public async Task A_failed_payment_enters_its_segment_and_the_recovery_leaves_it()
    {
        await UserAsync("pay-1");
        await App.PublishAsync("pf-1", EventTypes.PaymentFailed, Failed("pay-1"));
        Assert.Equal([Segments.PaymentFailed], await SegmentsOfAsync("pay-1"));
        await App.PublishAsync("pr-1", EventTypes.PaymentRecovered, new PaymentRecoveredData("pay-1", "in_1"));
        Assert.Empty(await SegmentsOfAsync("pay-1"));
    }

    [Fact]
    public async Task Falling_weekly_activity_enters_the_falling_segment_on_the_first_activity_of_the_next_week()
    {
        await UserAsync("fall-1");
        for (var i = 0; i < 6; i++)
        {
            await ActiveAsync("fall-1"); // six times in the week of 2 November
            App.Time.Advance(TimeSpan.FromHours(2));
        }

        App.Time.Advance(TimeSpan.FromDays(7));
        await ActiveAsync("fall-1"); // once in the week of 9 November
        Assert.DoesNotContain(Segments.FallingActivity, await SegmentsOfAsync("fall-1"));
        App.Time.Advance(TimeSpan.FromDays(7));
        await ActiveAsync("fall-1"); // the week of 16 November starts: 1 against 6
        Assert.Contains(Segments.FallingActivity, await SegmentsOfAsync("fall-1"));
    }

    [Fact]
    public async Task The_reengagement_mail_goes_out_at_the_default_hour_and_stops_when_the_user_comes_back_before_it()
    {
        var back = await UserAsync("back-1", "Bea Back");
        var gone = await UserAsync("gone-1", "Gus Gone");
        await ActiveAsync("back-1");
        await ActiveAsync("gone-1");
        await App.AdvanceAsync(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1)); // both enter inactive-7 at 09:00; the mail is due at 10:00
        Assert.Equal(2, await App.QueryOneAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'reengage.send' AND status = 'pending'"));

        await ActiveAsync("back-1"); // comes back at 09:01
        await App.AdvanceAsync(TimeSpan.FromHours(1));

        var mail = Assert.Single(await Mail.WaitForAsync(gone, 1));
        Assert.Equal("Gus, we kept your place", mail.Subject);
        Assert.Contains("It has been 7 days", mail.Text, StringComparison.Ordinal);
        Assert.StartsWith("<https://engagement.test/email/unsubscribe?token=", mail.Headers["list-unsubscribe"], StringComparison.Ordinal);
        Assert.Equal(10, (await App.QueryOneAsync<DateTime>("SELECT sent_at FROM sent_emails WHERE user_id = 'gone-1'")).ToUniversalTime().Hour);
        Assert.Equal(0, await App.QueryOneAsync<long>("SELECT count(*) FROM sent_emails WHERE user_id = 'back-1'"));
        Assert.Empty(await Mail.ListAsync(back));
    }

    [Fact]
    public async Task The_frequency_cap_holds_across_two_campaigns()
    {
        var address = await UserAsync("cap-1", "Cal Capped");
        await ActiveAsync("cap-1");
        App.Time.Advance(TimeSpan.FromDays(6) + TimeSpan.FromHours(3)); // Sunday 12:00
        await App.PublishAsync("pf-cap", EventTypes.PaymentFailed, Failed("cap-1")); // payment-failed: its mail is due Monday 10:00
        await App.AdvanceAsync(TimeSpan.FromHours(21) + TimeSpan.FromMinutes(1)); // Monday 09:01: inactive-7 as well, due 10:00
        Assert.Equal([Segments.Inactive7, Segments.PaymentFailed], await SegmentsOfAsync("cap-1"));

        await App.AdvanceAsync(TimeSpan.FromHours(1));
        // Two campaigns due at the same hour, a cap of one optional message a week: one mail (the dunning mail is transactional and not counted).
        Assert.Equal(1, await App.QueryOneAsync<long>("SELECT count(*) FROM sent_emails WHERE user_id = 'cap-1' AND category = 'reengagement'"));
        Assert.Equal(0, await App.QueryOneAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'reengage.send' AND status = 'pending'"));
        var mails = await Mail.WaitForAsync(address, 2);
        Assert.Single(mails, m => m.Headers.ContainsKey("list-unsubscribe"));

        // A week later the cap has room again: the 14-day segment's mail goes out (entered at 09:00, due at 10:00).
        await App.AdvanceAsync(TimeSpan.FromDays(7) - TimeSpan.FromHours(2));
        await App.AdvanceAsync(TimeSpan.FromHours(1));
        Assert.Equal([Segments.Inactive14, Segments.PaymentFailed], await SegmentsOfAsync("cap-1"));
        await App.AdvanceAsync(TimeSpan.FromHours(1));
        Assert.Equal(2, await App.QueryOneAsync<long>("SELECT count(*) FROM sent_emails WHERE user_id = 'cap-1' AND category = 'reengagement'"));
    }

    [Fact]
    public async Task The_best_send_hour_is_learned_from_the_users_opens()
    {
        var address = await UserAsync("owl-1", "Olga Owl");
        var tokens = App.Services.GetRequiredService<EmailTokens>();
        using var anonymous = App.Anonymous();
        for (var i = 0; i < 3; i++)
        {
            var id = $"mail_owl_{i}";
            await App.ExecuteAsync(
                "INSERT INTO sent_emails (id, user_id, kind, recipient, subject, status, queued_at, sent_at, category) VALUES (@id, 'owl-1', @id, @address, 's', 'sent', @at, @at, 'onboarding')",
                new { id, address, at = App.Time.GetUtcNow() });
        }

        // Opened at 19:xx on three evenings (the second pixel load of a message does not count twice).
        App.Time.Advance(TimeSpan.FromHours(10) + TimeSpan.FromMinutes(15));
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await anonymous.GetAsync($"/email/o/{tokens.ForOpen($"mail_owl_{i}")}.gif")).IsSuccessStatusCode);
            Assert.True((await anonymous.GetAsync($"/email/o/{tokens.ForOpen($"mail_owl_{i}")}.gif")).IsSuccessStatusCode);
            App.Time.Advance(TimeSpan.FromDays(1));
        }

        Assert.Equal(3, await App.QueryOneAsync<int>("SELECT opens_counted FROM user_engagement WHERE user_id = 'owl-1'"));
        Assert.Equal(19, await App.QueryOneAsync<int>("SELECT array_position(open_hours, 3) - 1 FROM user_engagement WHERE user_id = 'owl-1'"));

        await ActiveAsync("owl-1"); // Thursday 19:15
        await App.AdvanceAsync(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        var due = await App.QueryOneAsync<DateTime>("SELECT run_at FROM work_items WHERE kind = 'reengage.send'");
        Assert.Equal(new DateTime(2026, 11, 13, 19, 0, 0, DateTimeKind.Utc), due.ToUniversalTime());
        await App.AdvanceAsync(TimeSpan.FromDays(1));
        Assert.Single(await Mail.WaitForAsync(address, 1));
        Assert.Equal(19, (await App.QueryOneAsync<DateTime>("SELECT sent_at FROM sent_emails WHERE user_id = 'owl-1' AND category = 'reengagement'")).ToUniversalTime().Hour);
    }

    [Fact]
    public async Task Ops_see_each_segments_members_and_audience()
    {
        await UserAsync("seg-1");
        await UserAsync("seg-2");
        await App.PublishAsync("pf-s1", EventTypes.PaymentFailed, Failed("seg-1"));
        await App.PublishAsync("pf-s2", EventTypes.PaymentFailed, Failed("seg-2"));
        await App.ExecuteAsync("INSERT INTO email_suppressions (address, category, reason, created_at) SELECT lower(email), '*', 'complaint', now() FROM users WHERE id = 'seg-2'");

        using var ops = App.ClientFor("ops-1", ops: true);
        var report = await ops.GetFromJsonAsync<JsonObject>("/ops/email/segments/payment-failed");
        Assert.Equal(2, report!["members"]!.GetValue<long>());
        Assert.Equal(1, report["audience"]!.GetValue<long>());
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await ops.GetAsync("/ops/email/segments/nope")).StatusCode);
    }

    private PaymentFailedData Failed(string userId) =>
        new(userId, "in_" + userId, 999, "usd", 1, App.Time.GetUtcNow().AddDays(3), App.Time.GetUtcNow().AddDays(10), false, null);
}
