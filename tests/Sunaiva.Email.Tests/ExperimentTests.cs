using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Sunaiva.Engagement.Experiments;

namespace Sunaiva.Email.Tests;

public sealed class ExperimentTests(EmailServers servers) : EmailTestBase(servers)
{
    protected override IDictionary<string, string?>? Settings => new Dictionary<string, string?>
    {
        ["Email:Experiments:welcome-subject:Template"] = "welcome-1",
        ["Email:Experiments:welcome-subject:Variants:0:Name"] = "a",
        ["Email:Experiments:welcome-subject:Variants:0:Template"] = "welcome-1",
        ["Email:Experiments:welcome-subject:Variants:1:Name"] = "b",
        ["Email:Experiments:welcome-subject:Variants:1:Template"] = "welcome-1-b",
        ["Email:Experiments:welcome-subject:Metric"] = "clicks",
        ["Email:Experiments:welcome-subject:Confidence"] = "0.95",
        ["Email:Experiments:welcome-subject:MinSamplePerVariant"] = "10",
        ["Email:Experiments:welcome-subject:EvaluateEvery"] = "00:10:00",
    };

    [Fact]
    public async Task With_a_seeded_outcome_the_test_declares_the_right_winner_and_the_rollout_switches_to_it()
    {
        for (var i = 0; i < 40; i++)
        {
            await App.SignUpUncheckedAsync($"ab-{i:00}", NewAddress($"ab{i}"), $"Tester {i}", "en");
        }

        var split = await App.QueryAsync<(string Variant, long Count)>(
            "SELECT variant, count(*) FROM sent_emails WHERE experiment = 'welcome-subject' AND experiment_phase = 'test' GROUP BY variant ORDER BY variant");
        Assert.Equal(["a", "b"], split.Select(s => s.Variant).ToList());
        Assert.All(split, s => Assert.InRange(s.Count, 10, 30));
        // Assignment is a pure function of experiment and user: the same user always lands in the same variant.
        var ab00 = await App.QueryOneAsync<string>("SELECT variant FROM sent_emails WHERE user_id = 'ab-00'");
        Assert.Equal(ab00, ExperimentService.Bucket("welcome-subject", "ab-00", 2) == 0 ? "a" : "b");

        using var ops = App.ClientFor("ops-1", ops: true);
        var running = await ops.GetFromJsonAsync<JsonObject>("/ops/email/experiments/welcome-subject");
        Assert.Equal("running", running!["status"]!.GetValue<string>());

        // Seeded outcome: 3 in 4 readers of b click, 1 in 10 of a.
        await App.ExecuteAsync(
            """
            WITH ranked AS (SELECT id, variant, row_number() OVER (PARTITION BY variant ORDER BY user_id) AS n FROM sent_emails WHERE experiment = 'welcome-subject')
            UPDATE sent_emails e SET clicks = 1, first_clicked_at = queued_at, first_opened_at = queued_at, opens = 1
            FROM ranked r WHERE r.id = e.id AND ((r.variant = 'b' AND r.n % 4 <> 0) OR (r.variant = 'a' AND r.n % 10 = 1))
            """);

        // Within EvaluateEvery nothing is decided yet; afterwards the next signup decides and gets the winner.
        await App.SignUpUncheckedAsync("ab-early", NewAddress("early"), "Early", "en");
        Assert.Equal("test", await App.QueryOneAsync<string>("SELECT experiment_phase FROM sent_emails WHERE user_id = 'ab-early'"));
        await App.AdvanceAsync(TimeSpan.FromMinutes(11));
        var late = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            var address = NewAddress($"late{i}");
            late.Add(address);
            await App.SignUpUncheckedAsync($"ab-late-{i}", address, "Lou Late", "en");
        }

        Assert.Equal(Enumerable.Repeat(("b", "rollout", "welcome-1-b"), 6).ToList(),
            await App.QueryAsync<(string, string, string)>("SELECT variant, experiment_phase, template FROM sent_emails WHERE user_id LIKE 'ab-late-%' ORDER BY user_id"));
        Assert.Equal("Lou, your companion is ready to listen", Assert.Single(await Mail.WaitForAsync(late[0], 1)).Subject);

        var decided = await ops.GetFromJsonAsync<JsonObject>("/ops/email/experiments/welcome-subject");
        Assert.Equal("decided", decided!["status"]!.GetValue<string>());
        Assert.Equal("b", decided["winner"]!.GetValue<string>());
        Assert.True(decided["confidence"]!.GetValue<double>() >= 0.95);
        Assert.True(decided["uplift"]!.GetValue<double>() > 1);
        Assert.Equal(6, decided["rolledOut"]!.GetValue<long>());
        var b = decided["variants"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == "b")!;
        Assert.True(b["clickRate"]!.GetValue<double>() > 0.7);
    }

    [Fact]
    public void The_z_test_matches_a_worked_example()
    {
        // 200/1000 against 250/1000: z = 2.68, two-sided confidence 0.9926.
        var result = ZTest.Compare(200, 1000, 250, 1000);
        Assert.Equal(2.68, result.Z, 2);
        Assert.Equal(0.9926, result.Confidence, 3);
    }
}
