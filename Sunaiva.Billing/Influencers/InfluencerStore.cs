using Dapper;
using Npgsql;

namespace Sunaiva.Billing.Influencers;

public sealed record Influencer(string Id, string UserId, string ReferralCode, string? StripeAccountId, string Country, bool PayoutsEnabled, string? DisabledReason);

/// <summary>Influencers, their referral codes and Connect accounts.</summary>
public sealed class InfluencerStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    internal const string Columns = """
        id, user_id AS userid, referral_code AS referralcode, stripe_account_id AS stripeaccountid, country,
        payouts_enabled AS payoutsenabled, disabled_reason AS disabledreason
        """;

    public async Task<Influencer?> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<Influencer>(new CommandDefinition($"SELECT {Columns} FROM influencers WHERE id = @id", new { id }, cancellationToken: ct));
    }

    public async Task<Influencer?> GetByUserAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<Influencer>(new CommandDefinition($"SELECT {Columns} FROM influencers WHERE user_id = @userId", new { userId }, cancellationToken: ct));
    }

    public Task<Influencer?> GetByAccountAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string accountId, CancellationToken ct) =>
        connection.QuerySingleOrDefaultAsync<Influencer>(new CommandDefinition($"SELECT {Columns} FROM influencers WHERE stripe_account_id = @accountId", new { accountId }, tx, cancellationToken: ct));

    /// <summary>Registers the user as the influencer of a code; null when the code belongs to someone else.</summary>
    public async Task<Influencer?> RegisterAsync(string userId, string referralCode, string country, CancellationToken ct)
    {
        var code = referralCode.ToUpperInvariant();
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO influencers (id, user_id, referral_code, country, created_at, updated_at) VALUES (@id, @userId, @code, @country, @now, @now)
            ON CONFLICT DO NOTHING
            """,
            new { id = $"inf_{Guid.CreateVersion7():N}", userId, code, country, now }, cancellationToken: ct));
        var influencer = await connection.QuerySingleOrDefaultAsync<Influencer>(new CommandDefinition(
            $"SELECT {Columns} FROM influencers WHERE user_id = @userId", new { userId }, cancellationToken: ct));
        return influencer is not null && influencer.ReferralCode == code ? influencer : null;
    }

    public async Task SetAccountAsync(string id, string accountId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE influencers SET stripe_account_id = @accountId, disabled_reason = COALESCE(disabled_reason, 'onboarding_incomplete'), updated_at = @now WHERE id = @id",
            new { id, accountId, now = time.GetUtcNow() }, cancellationToken: ct));
    }

    public Task UpdateAccountStatusAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string accountId, bool payoutsEnabled, string? reason, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            "UPDATE influencers SET payouts_enabled = @payoutsEnabled, disabled_reason = @reason, updated_at = @now WHERE stripe_account_id = @accountId",
            new { accountId, payoutsEnabled, reason, now = time.GetUtcNow() }, tx, cancellationToken: ct));
}
