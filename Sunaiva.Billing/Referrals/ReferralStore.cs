using Dapper;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Billing.Referrals;

/// <summary>What an attribution attempt did: the user's attribution (first code wins), whether this call made it, and whether an influencer owns the code.</summary>
public sealed record AttributionResult(ReferralAttribution? Attribution, bool Created, bool CodeOwned);

/// <summary>
/// Referral attributions. A code is attributed only when an influencer owns it: the API answers 422 for a code nobody owns,
/// and a signup carrying one is ignored (logged), so no commission is ever earned for a code no one can be paid for.
/// </summary>
public sealed partial class ReferralStore(NpgsqlDataSource dataSource, TimeProvider time, ILogger<ReferralStore> logger)
{
    /// <summary>Whether an influencer owns the code (codes compare case-insensitively; they are stored upper-case).</summary>
    public async Task<bool> IsOwnedAsync(string code, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM influencers WHERE referral_code = @code)", new { code = code.ToUpperInvariant() }, cancellationToken: ct));
    }

    public async Task<ReferralAttribution?> GetAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<ReferralAttribution>(new CommandDefinition(
            "SELECT referral_code AS referralcode, source, attributed_at AS attributedat FROM referral_attributions WHERE user_id = @userId",
            new { userId }, cancellationToken: ct));
    }

    public async Task<AttributionResult> AttributeAsync(string userId, string code, string source, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await AttributeAsync(connection, null, userId, code, source, ct);
    }

    internal async Task<AttributionResult> AttributeAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string userId, string code, string source, CancellationToken ct)
    {
        var normalized = code.ToUpperInvariant();
        var owned = await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM influencers WHERE referral_code = @normalized)", new { normalized }, tx, cancellationToken: ct));
        var inserted = owned ? await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO referral_attributions (user_id, referral_code, source, attributed_at) VALUES (@userId, @normalized, @source, @at)
            ON CONFLICT (user_id) DO NOTHING
            """,
            new { userId, normalized, source, at = time.GetUtcNow() }, tx, cancellationToken: ct)) : 0;
        if (!owned)
        {
            LogUnownedCode(logger, source);
        }

        var current = await connection.QuerySingleOrDefaultAsync<ReferralAttribution>(new CommandDefinition(
            "SELECT referral_code AS referralcode, source, attributed_at AS attributedat FROM referral_attributions WHERE user_id = @userId",
            new { userId }, tx, cancellationToken: ct));
        return new AttributionResult(current, inserted == 1, owned);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Referral code from {Source} not attributed: no influencer owns it")]
    private static partial void LogUnownedCode(ILogger logger, string source);
}

/// <summary>A referral code given at signup attributes the new user to that influencer.</summary>
public sealed class SignupReferralHandler(ReferralStore store) : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } = [Sunaiva.Contracts.EventTypes.UserSignedUp];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var user = integrationEvent.DataAs<UserSignedUp>();
        if (ReferralsApi.IsValidCode(user.ReferralCode))
        {
            await store.AttributeAsync(connection, transaction, user.Id, user.ReferralCode!, "signup", cancellationToken);
        }
    }
}
