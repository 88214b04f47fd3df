using Dapper;
using Npgsql;

namespace Sunaiva.Engagement.Email;

/// <summary>
/// Addresses that must not receive a category (unsubscribes, preferences) or anything at all (<c>*</c>: hard bounces,
/// complaints). Transactional mail is stopped only by <c>*</c>.
/// </summary>
public sealed class SuppressionList(NpgsqlDataSource dataSource, TimeProvider time)
{
    public const string Unsubscribed = "unsubscribed";
    public const string Preference = "preference";
    public const string HardBounce = "hard-bounce";
    public const string Complaint = "complaint";

    /// <summary>The reason this address may not receive <paramref name="category"/>, or null.</summary>
    public async Task<string?> FindAsync(string address, string category, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QueryFirstOrDefaultAsync<string>(new CommandDefinition(
            """
            SELECT reason FROM email_suppressions
            WHERE address = lower(@address) AND (category = '*' OR (category = @category AND @category <> 'transactional'))
            ORDER BY category = '*' DESC LIMIT 1
            """,
            new { address, category }, cancellationToken: cancellationToken));
    }

    /// <summary>Adds (or keeps) a suppression in the caller's transaction.</summary>
    public Task AddAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string address, string category, string reason, string? userId, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO email_suppressions (address, category, reason, user_id, created_at)
            VALUES (lower(@address), @category, @reason, @userId, @at)
            ON CONFLICT (address, category) DO NOTHING
            """,
            new { address, category, reason, userId, at = time.GetUtcNow() }, transaction, cancellationToken: cancellationToken));

    /// <summary>Lifts a reader's own choice (never a bounce or complaint).</summary>
    public Task RemoveChoiceAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string address, string category, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM email_suppressions WHERE address = lower(@address) AND category = @category AND reason IN ('unsubscribed', 'preference')",
            new { address, category }, transaction, cancellationToken: cancellationToken));
}
