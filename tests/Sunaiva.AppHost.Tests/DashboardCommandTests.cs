using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Sunaiva.AppHost.Tests;

[Collection(SunaivaAppCollection.Name)]
public sealed class DashboardCommandTests(SunaivaAppFixture fixture)
{
    [Fact]
    public async Task Simulate_signup_command_creates_a_user_that_billing_attributes_to_the_demo_referral()
    {
        // Only this test simulates signups in the shared app.
        var before = await CountAsync(ResourceNames.EngagementDb, "SELECT count(*) FROM users WHERE id LIKE 'user_sim_%'");
        await fixture.EnsureInfluencerAsync("DEMO");
        var engagement = fixture.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == ResourceNames.Engagement);

        var result = await fixture.App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync(engagement, "simulate-signup");

        Assert.True(result.Success, result.Message);
        Assert.Equal(before + 1, await CountAsync(ResourceNames.EngagementDb, "SELECT count(*) FROM users WHERE id LIKE 'user_sim_%'"));
        var after = await Eventually.Get(
            () => CountAsync(ResourceNames.BillingDb, "SELECT count(*) FROM referral_attributions WHERE user_id LIKE 'user_sim_%' AND referral_code = 'DEMO'"),
            n => n > before);
        Assert.Equal(before + 1, after);
    }

    [Theory]
    [InlineData(ResourceNames.Voice)]
    [InlineData(ResourceNames.Engagement)]
    public async Task Replay_dead_letters_command_succeeds_on_each_service(string service)
    {
        var resource = fixture.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == service);

        var result = await fixture.App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync(resource, "replay-dead-letters");

        Assert.True(result.Success, result.Message);
    }

    [Theory]
    [InlineData("run-payouts")]
    [InlineData("replay-webhooks")]
    public async Task Billing_ops_commands_authenticate_with_a_minted_ops_token_and_succeed(string command)
    {
        var billing = fixture.App.Services.GetRequiredService<DistributedApplicationModel>().Resources.Single(r => r.Name == ResourceNames.Billing);

        var result = await fixture.App.Services.GetRequiredService<ResourceCommandService>().ExecuteCommandAsync(billing, command);

        Assert.True(result.Success, result.Message);
    }

    private async Task<long> CountAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(await fixture.ConnectionStringAsync(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync() ?? 0L);
    }
}
