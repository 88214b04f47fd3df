using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Sunaiva.Contracts;

namespace Sunaiva.Email.Tests;

/// <summary>An A/B test of send time (and subject) on a re-engagement campaign: the winner's hour and template go to the rest of the audience.</summary>
public sealed class SendTimeExperimentTests(EmailServers servers) : EmailTestBase(servers)
{
    protected override IDictionary<string, string?>? Settings => new Dictionary<string, string?>
    {
        ["Email:Experiments:reengage-time:Template"] = "reengage-inactive",
        ["Email:Experiments:reengage-time:Variants:0:Name"] = "morning",
        ["Email:Experiments:reengage-time:Variants:0:Template"] = "reengage-inactive",
        ["Email:Experiments:reengage-time:Variants:0:SendHour"] = "9",
        ["Email:Experiments:reengage-time:Variants:1:Name"] = "evening",
        ["Email:Experiments:reengage-time:Variants:1:Template"] = "reengage-inactive-b",
        ["Email:Experiments:reengage-time:Variants:1:SendHour"] = "18",
        ["Email:Experiments:reengage-time:Metric"] = "opens",
        ["Email:Experiments:reengage-time:Confidence"] = "0.95",
        ["Email:Experiments:reengage-time:MinSamplePerVariant"] = "6",
        ["Email:Experiments:reengage-time:EvaluateEvery"] = "01:00:00",
    };

    private async Task<string> IdleUserAsync(string id, string name)
    {
        var address = NewAddress(id);
        await App.ExecuteAsync("INSERT INTO users (id, email, name, language, signed_up_at) VALUES (@id, @address, @name, 'en', @at)",
            new { id, address, name, at = App.Time.GetUtcNow() });
        await App.PublishAsync("act_" + id, EventTypes.UserActive, new UserActive(id, App.Time.GetUtcNow()));
        return address;
    }

    [Fact]
    public async Task The_winner_of_a_send_time_experiment_gets_the_rest_of_the_audience()
    {
        for (var i = 0; i < 30; i++)
        {
            await IdleUserAsync($"st-{i:00}", $"Sam {i}");
        }

        // Monday 9 November 09:01: all enter inactive-7; each variant's mail is scheduled at its own hour.
        await App.AdvanceAsync(TimeSpan.FromDays(7) + TimeSpan.FromMinutes(1));
        await App.AdvanceAsync(TimeSpan.FromHours(9)); // Monday 18:01: the evening sends
        await App.AdvanceAsync(TimeSpan.FromHours(15)); // Tuesday 09:01: the morning sends
        var sent = await App.QueryAsync<(string Variant, int Hour, long Count)>(
            "SELECT variant, extract(hour FROM sent_at AT TIME ZONE 'UTC')::int, count(*) FROM sent_emails WHERE experiment = 'reengage-time' GROUP BY 1, 2 ORDER BY 1");
        Assert.Equal(["evening", "morning"], sent.Select(s => s.Variant).ToList());
        Assert.Equal([18, 9], sent.Select(s => s.Hour).ToList());
        Assert.All(sent, s => Assert.InRange(s.Count, 6, 24));

        // Seeded outcome: 3 in 4 evening mails opened, 1 in 10 morning ones.
        await App.ExecuteAsync(
            """
            WITH ranked AS (SELECT id, variant, row_number() OVER (PARTITION BY variant ORDER BY user_id) AS n FROM sent_emails WHERE experiment = 'reengage-time')
            UPDATE sent_emails e SET opens = 1, first_opened_at = e.sent_at
            FROM ranked r WHERE r.id = e.id AND ((r.variant = 'evening' AND r.n % 4 <> 0) OR (r.variant = 'morning' AND r.n % 10 = 1))
            """);

        var late = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            late.Add(await IdleUserAsync($"late-{i}", "Lou Late"));
        }

        // A week later the late users enter the segment (09:01) after the test is decided: all get the evening variant at 18:00.
        await App.AdvanceAsync(TimeSpan.FromDays(7));
        Assert.Equal(4, await App.QueryOneAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'reengage.send' AND status = 'pending' AND payload LIKE '%late-%' AND extract(hour FROM run_at AT TIME ZONE 'UTC') = 18"));
        await App.AdvanceAsync(TimeSpan.FromHours(9));
        Assert.Equal(Enumerable.Repeat(("evening", "rollout", "reengage-inactive-b", 18), 4).ToList(),
            await App.QueryAsync<(string, string, string, int)>(
                "SELECT variant, experiment_phase, template, extract(hour FROM sent_at AT TIME ZONE 'UTC')::int FROM sent_emails WHERE user_id LIKE 'late-%' ORDER BY user_id"));
        Assert.Equal("A minute for yourself today, Lou?", Assert.Single(await Mail.WaitForAsync(late[0], 1)).Subject);

        using var ops = App.ClientFor("ops-1", ops: true);
        var report = await ops.GetFromJsonAsync<JsonObject>("/ops/email/experiments/reengage-time");
        Assert.Equal("decided", report!["status"]!.GetValue<string>());
        Assert.Equal("evening", report["winner"]!.GetValue<string>());
        Assert.True(report["confidence"]!.GetValue<double>() >= 0.95);
        Assert.Equal(18, report["variants"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == "evening")!["sendHour"]!.GetValue<int>());
    }
}
