using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Email.Tests;

public sealed class WelcomeSeriesTests(EmailServers servers) : EmailTestBase(servers)
{
    [Fact]
    public async Task The_series_sends_on_days_0_1_3_7_to_a_user_who_does_nothing()
    {
        var address = NewAddress("idle");
        await App.SignUpAsync("user-idle", address, "Idle Ida", "en");
        await Mail.WaitForAsync(address, 1);

        await App.AdvanceAsync(TimeSpan.FromHours(23));
        Assert.Single(await Mail.ListAsync(address));

        await App.AdvanceAsync(TimeSpan.FromHours(1));
        await Mail.WaitForAsync(address, 2);
        await App.AdvanceAsync(TimeSpan.FromDays(2));
        await Mail.WaitForAsync(address, 3);
        await App.AdvanceAsync(TimeSpan.FromDays(4));
        var mails = await Mail.WaitForAsync(address, 4);

        Assert.Equal(["welcome-1", "welcome-2", "welcome-3", "welcome-4"], mails.Select(m => m.Headers["x-sunaiva-kind"]).Order().ToList());
        Assert.Equal(["queued", "queued", "queued", "queued"], await App.QueryAsync<string>("SELECT outcome FROM welcome_steps WHERE user_id = 'user-idle' ORDER BY step"));
    }

    [Fact]
    public async Task The_series_skips_what_the_user_already_did_and_links_the_onboarding_video()
    {
        var address = NewAddress("busy");
        await App.SignUpAsync("user-busy", address, "Busy Bo", "en");
        await Mail.WaitForAsync(address, 1);

        await App.PublishAsync("evt_voice_1", EventTypes.VoiceSessionEnded, new { userId = "user-busy", sessionId = "s1", seconds = 42 });
        await App.PublishAsync("evt_video_1", EventTypes.VideoReady,
            new { userId = "user-busy", videoId = "vid_1", kind = "welcome", url = "https://media.test/v/vid_1.mp4", watchUrl = "https://app.test/videos/vid_1" });
        await App.AdvanceAsync(TimeSpan.FromDays(1));
        await App.PublishAsync("evt_sub_1", EventTypes.SubscriptionActivated, new { subscriptionId = "sub_1", userId = "user-busy", status = "active", plan = "plus-monthly" });
        await App.AdvanceAsync(TimeSpan.FromDays(2));
        var mails = await Mail.WaitForAsync(address, 2);
        await App.AdvanceAsync(TimeSpan.FromDays(4));

        Assert.Equal(["queued", "skipped:voice", "queued", "skipped:subscription"],
            await App.QueryAsync<string>("SELECT outcome FROM welcome_steps WHERE user_id = 'user-busy' ORDER BY step"));
        Assert.Equal(2, (await Mail.ListAsync(address)).Count);

        // Day 3 asks for a file and lists the video; its link is a signed redirect to the watch page.
        var day3 = Assert.Single(mails, m => m.Headers["x-sunaiva-kind"] == "welcome-3");
        Assert.Contains("Your onboarding videos", day3.Text, StringComparison.Ordinal);
        var videoLink = day3.Text.Split('\n').Single(l => l.StartsWith("- Welcome: ", StringComparison.Ordinal))["- Welcome: ".Length..].Trim();
        using var client = App.Anonymous();
        var redirect = await client.GetAsync(Local(videoLink));
        Assert.Equal(System.Net.HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Equal("https://app.test/videos/vid_1", redirect.Headers.Location!.ToString());
    }
}
