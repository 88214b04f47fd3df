using System.Text.Json;
using Dapper;
using Npgsql;
using Sunaiva.Integration;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Drive;

/// <summary>
/// Revokes a disconnected grant at Google (kind <c>drive.revoke</c>, partitioned by user). <c>DELETE /drive/connection</c>
/// deletes the connection's tokens at once and keeps only the protected token to revoke in <c>drive_revocations</c>;
/// this work calls Google's revoke endpoint through the <c>drive</c> chain and retries with back-off (an open circuit
/// waits without spending an attempt) until Google answers, then deletes that last copy of the token.
/// </summary>
public sealed partial class DriveRevokeWork(
    DriveGateway gateway,
    DriveConnectionStore connections,
    NpgsqlDataSource dataSource,
    TimeProvider time,
    ILogger<DriveRevokeWork> logger) : IWorkHandler
{
    public const string WorkKind = "drive.revoke";

    /// <summary>How long a new connect waits for a revoke the runner has in flight (sent to Google, not answered yet).</summary>
    public static readonly TimeSpan InFlightWait = TimeSpan.FromSeconds(3);

    /// <summary>Google may be down for long: retries back off to an hour and go on for about a week before a dead letter.</summary>
    public static readonly WorkPolicy Policy = new() { MaxAttempts = 180, BaseDelay = TimeSpan.FromSeconds(5), MaxDelay = TimeSpan.FromHours(1) };

    public string Kind => WorkKind;

    public static NewWork For(string userId, string revocationId) => new(
        WorkKind,
        $"{WorkKind}:{revocationId}",
        JsonSerializer.Serialize(new Payload(userId, revocationId)),
        PartitionKey: DriveKeys.Partition(userId));

    /// <summary>Moves the connection's token into <c>drive_revocations</c> and queues its revoke, in the caller's transaction.</summary>
    public static async Task<bool> QueueAsync(NpgsqlConnection connection, NpgsqlTransaction tx, WorkQueue queue, string userId, DateTimeOffset now, CancellationToken ct)
    {
        var id = $"rev_{Guid.CreateVersion7():N}";
        var queued = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO drive_revocations (id, user_id, token, created_at)
            SELECT @id, user_id, coalesce(refresh_token, access_token), @now FROM drive_connections WHERE user_id = @userId
            """,
            new { id, userId, now }, tx, cancellationToken: ct));
        if (queued == 0)
        {
            return false;
        }

        await queue.EnqueueAsync(connection, tx, For(userId, id), ct);
        return true;
    }

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.Deserialize<Payload>(context.Item.Payload) ?? throw new PermanentWorkFailureException("unreadable drive.revoke payload");
        string? token;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            token = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT token FROM drive_revocations WHERE id = @id AND user_id = @userId",
                new { id = payload.RevocationId, userId = payload.UserId }, cancellationToken: cancellationToken));
        }

        if (token is null)
        {
            await context.IgnoreAsync("already revoked", cancellationToken);
            return;
        }

        // Nothing held open here: a failure (Google down, 5xx, timeout) throws and the runner retries with back-off.
        await gateway.RevokeAsync(payload.UserId, connections.Unprotect(token), cancellationToken);
        await context.CommitAsync(
            (c, tx, ct) => c.ExecuteAsync(new CommandDefinition("DELETE FROM drive_revocations WHERE id = @id", new { id = payload.RevocationId }, tx, cancellationToken: ct)),
            cancellationToken);
        LogRevoked(logger, context.Item.Attempts);
    }

    /// <summary>
    /// Revokes at Google, now, every grant of <paramref name="userId"/> still waiting for its revoke, before a new consent
    /// begins: Google revokes a whole grant, so a revoke still pending when the user connects again would end the new grant
    /// when it finally reached Google. Throws <see cref="ProviderChainException"/> (503 + Retry-After) when Google does not
    /// answer: the new consent waits until the old grant is gone. The pending work items find their token gone and stop.
    /// False when a revoke the runner sent is still unanswered after <see cref="InFlightWait"/> (the caller answers 503).
    /// </summary>
    public async Task<bool> SettlePendingAsync(string userId, CancellationToken cancellationToken)
    {
        IReadOnlyList<(string Id, string Token)> pending;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        {
            pending = (await connection.QueryAsync<(string Id, string Token)>(new CommandDefinition(
                "SELECT id, token FROM drive_revocations WHERE user_id = @userId ORDER BY created_at",
                new { userId }, cancellationToken: cancellationToken))).ToList();
        }

        foreach (var (id, token) in pending)
        {
            // No connection or transaction is open during the call to Google.
            await gateway.RevokeAsync(userId, connections.Unprotect(token), cancellationToken);
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            await connection.ExecuteAsync(new CommandDefinition("DELETE FROM drive_revocations WHERE id = @id", new { id }, cancellationToken: cancellationToken));
            LogSettled(logger);
        }

        // A revoke the runner sent before these were settled may still be on its way: the consent waits until that attempt
        // has ended (answered, failed or timed out; a later retry finds its token gone), at most InFlightWait.
        var until = time.GetUtcNow() + InFlightWait;
        while (await RevokeInFlightAsync(userId, cancellationToken))
        {
            if (time.GetUtcNow() >= until)
            {
                return false;
            }

            // The poll's pace is real time (the runner's attempt ends in real time); the limit is on the service's clock.
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }

        return true;
    }

    private async Task<bool> RevokeInFlightAsync(string userId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            """
            SELECT EXISTS (SELECT 1 FROM work_items
                           WHERE kind = @kind AND partition_key = @partition AND status = 'pending' AND lease_until >= @now)
            """,
            new { kind = WorkKind, partition = DriveKeys.Partition(userId), now = time.GetUtcNow() }, cancellationToken: cancellationToken));
    }

    private sealed record Payload(string UserId, string RevocationId);

    [LoggerMessage(Level = LogLevel.Information, Message = "A disconnected Drive grant was revoked at Google before a new consent")]
    private static partial void LogSettled(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "A disconnected Drive grant was revoked at Google (attempt {Attempt})")]
    private static partial void LogRevoked(ILogger logger, int attempt);
}
