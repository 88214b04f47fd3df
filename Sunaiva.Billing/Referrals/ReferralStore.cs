using Dapper;
using Npgsql;
using Sunaiva.ServiceDefaults.Events;

namespace Sunaiva.Billing.Referrals;

public sealed class ReferralStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    public async Task<ReferralAttribution?> GetAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<ReferralAttribution>(new CommandDefinition(
            "SELECT referral_code AS referralcode, source, attributed_at AS attributedat FROM referral_attributions WHERE user_id = @userId",
            new { userId }, cancellationToken: ct));
    }

    public async Task<(ReferralAttribution Attribution, bool Created)> AttributeAsync(string userId, string code, string source, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await AttributeAsync(connection, null, userId, code, source, ct);
    }

    internal async Task<(ReferralAttribution, bool)> AttributeAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string userId, string code, string source, CancellationToken ct)
    {
        var normalized = code.ToUpperInvariant();
        var inserted = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO referral_attributions (user_id, referral_code, source, attributed_at) VALUES (@userId, @normalized, @source, @at)
            ON CONFLICT (user_id) DO NOTHING
            """,
            new { userId, normalized, source, at = time.GetUtcNow() }, tx, cancellationToken: ct));
        var current = await connection.QuerySingleAsync<ReferralAttribution>(new CommandDefinition(
            "SELECT referral_code AS referralcode, source, attributed_at AS attributedat FROM referral_attributions WHERE user_id = @userId",
            new { userId }, tx, cancellationToken: ct));
        return (current, inserted == 1);
    }
}

/// <summary>A referral code given at signup attributes the new user to that influencer.</summary>
public sealed class SignupReferralHandler(ReferralStore store) : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } = [ServiceDefaults.Events.EventTypes.UserSignedUp];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var user = integrationEvent.DataAs<UserSignedUp>();
        if (ReferralsApi.IsValidCode(user.ReferralCode))
        {
            await store.AttributeAsync(connection, transaction, user.Id, user.ReferralCode!, "signup", cancellationToken);
        }
    }
}
