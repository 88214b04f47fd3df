using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MimeKit;
using SkiaSharp;
using Sunaiva.Contracts;
using Sunaiva.Engagement.BillingMail;
using Sunaiva.Engagement.Reports;

namespace Sunaiva.Email.Tests;

/// <summary>Influencer performance reports from Billing's events: on payout.sent and monthly, with the numbers and a PNG chart inline.</summary>
public sealed class InfluencerReportTests(EmailServers servers) : EmailTestBase(servers)
{
    [Fact]
    public async Task The_performance_report_carries_the_right_numbers_and_a_png_chart_on_payout_and_monthly()
    {
        var influencer = NewAddress("ada");
        await App.SignUpUncheckedAsync("inf-1", influencer, "Ada Influencer", "en");
        foreach (var id in new[] { "ref-1", "ref-2", "ref-3" })
        {
            await App.PublishAsync("su_" + id, EventTypes.UserSignedUp, new UserSignedUp(id, NewAddress(id), "Referred", "en", "GB", null, null, "ADA"));
        }

        await App.PublishAsync("su_other", EventTypes.UserSignedUp, new UserSignedUp("other-1", NewAddress("other"), "Other", "en", "GB", null, null, "BOB"));
        await App.PublishAsync("sa_1", EventTypes.SubscriptionActivated, new { subscriptionId = "sub_1", userId = "ref-1", status = "active", plan = "plus" });
        await App.PublishAsync("sa_2", EventTypes.SubscriptionActivated, new { subscriptionId = "sub_2", userId = "ref-2", status = "active", plan = "plus" });
        await App.PublishAsync("sc_2", EventTypes.SubscriptionCanceled, new { subscriptionId = "sub_2", userId = "ref-2", status = "canceled", plan = "plus" });
        var available = App.Time.GetUtcNow().AddDays(30);
        await App.PublishAsync("ce_1", EventTypes.CommissionEarned, new { referralCode = "ADA", userId = "ref-1", invoiceId = "in_1", currency = "usd", amount = 1500, amountUsd = 1500, availableAt = available });
        await App.PublishAsync("ce_2", EventTypes.CommissionEarned, new { referralCode = "ADA", userId = "ref-2", invoiceId = "in_2", currency = "usd", amount = 1500, amountUsd = 1500, availableAt = available });
        await App.PublishAsync("ce_2_again", EventTypes.CommissionEarned, new { referralCode = "ADA", userId = "ref-2", invoiceId = "in_2", currency = "usd", amount = 1500, amountUsd = 1500, availableAt = available });
        await App.PublishAsync("cb_1", InfluencerEvents.CommissionClawedBack, new CommissionClawedBackData("ADA", "ref-2", "in_2", 500));
        await App.PublishAsync("po_1", EventTypes.PayoutSent, new PayoutStatementData("infl_1", "inf-1", "ADA", "2026-11", 2000, "tr_1", null));

        var mails = await Mail.WaitForAsync(influencer, 3); // welcome, payout statement, performance report
        var report = Assert.Single(mails, m => m.Subject == "Your Sunaiva performance for November 2026");
        foreach (var expected in new[] { "Signups: 3", "Conversions: 2", "Active subscribers: 1", "Commissions earned: 30.00 USD", "Clawbacks: 5.00 USD", "Payout: 20.00 USD", "Carried over: 5.00 USD" })
        {
            Assert.Contains(expected, report.Text, StringComparison.Ordinal);
        }

        Assert.Contains(">30.00 USD</td>", report.Html, StringComparison.Ordinal);
        Assert.StartsWith("<https://engagement.test/email/unsubscribe?token=", report.Headers["list-unsubscribe"], StringComparison.Ordinal);

        var raw = (await Mail.RawAsync(influencer)).Single(m => m.Subject == report.Subject);
        var chart = Assert.Single(raw.BodyParts.OfType<MimePart>(), p => p.ContentType.MimeType == "image/png");
        Assert.Contains($"src=\"cid:{chart.ContentId}\"", raw.HtmlBody, StringComparison.Ordinal);
        using var png = new MemoryStream();
        await chart.Content!.DecodeToAsync(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png.ToArray()[..4]);
        using var bitmap = SKBitmap.Decode(png.ToArray());
        Assert.Equal((ReportChart.Width, ReportChart.Height), (bitmap.Width, bitmap.Height));

        using var ops = App.ClientFor("ops-1", ops: true);
        var figures = await ops.GetFromJsonAsync<JsonObject>("/ops/email/reports/ADA?period=2026-11");
        Assert.Equal(3000, figures!["month"]!["commissionsUsd"]!.GetValue<long>());
        Assert.Equal(500, figures["carryOverUsd"]!.GetValue<long>());

        // The monthly run for November, due 1 December 08:00 UTC, sends the month's report once more (its own kind).
        await App.AdvanceAsync(new DateTimeOffset(2026, 12, 1, 8, 1, 0, TimeSpan.Zero) - App.Time.GetUtcNow());
        Assert.Equal(["influencer-report:2026-11", "influencer-report:2026-11:payout"],
            await App.QueryAsync<string>("SELECT kind FROM sent_emails WHERE user_id = 'inf-1' AND template = 'influencer-report' ORDER BY kind"));
        Assert.Equal(2, (await Mail.WaitForAsync(influencer, 4)).Count(m => m.Subject == "Your Sunaiva performance for November 2026"));
        Assert.Equal(1, await App.QueryOneAsync<long>("SELECT count(*) FROM work_items WHERE key = 'reports.monthly:2026-12' AND status = 'pending'"));
    }
}
