using Dapper;
using Npgsql;

namespace Sunaiva.Media.Drive;

/// <summary>A Drive file the user picked, and where it is in the vault.</summary>
public sealed record DriveImport(string DriveFileId, string Status, string? Reason, string? VaultFileId, string? Name, string? MimeType, string? DriveVersion, DateTime RequestedAt, DateTime? ImportedAt);

/// <summary><c>drive_imports</c> (the files each user picked, followed by the changes feed) and <c>drive_audit</c>.</summary>
public sealed class DriveImportStore(NpgsqlDataSource dataSource, TimeProvider time)
{
    private const string Columns =
        "drive_file_id AS drivefileid, status, reason, vault_file_id AS vaultfileid, name, mime_type AS mimetype, drive_version AS driveversion, requested_at AS requestedat, imported_at AS importedat";

    public Task MarkQueuedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string userId, IEnumerable<string> driveFileIds, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO drive_imports (user_id, drive_file_id, status, requested_at)
            SELECT @userId, id, 'queued', @now FROM unnest(@ids::text[]) AS id
            ON CONFLICT (user_id, drive_file_id) DO UPDATE SET requested_at = EXCLUDED.requested_at,
                status = CASE WHEN drive_imports.status IN ('removed', 'skipped') THEN 'queued' ELSE drive_imports.status END
            """,
            new { userId, ids = driveFileIds.ToArray(), now = time.GetUtcNow() }, tx, cancellationToken: ct));

    public async Task<DriveImport?> GetAsync(string userId, string driveFileId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<DriveImport>(new CommandDefinition(
            $"SELECT {Columns} FROM drive_imports WHERE user_id = @userId AND drive_file_id = @driveFileId", new { userId, driveFileId }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<DriveImport>> ListAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return (await connection.QueryAsync<DriveImport>(new CommandDefinition(
            $"SELECT {Columns} FROM drive_imports WHERE user_id = @userId ORDER BY requested_at DESC, drive_file_id LIMIT 500", new { userId }, cancellationToken: ct))).ToList();
    }

    /// <summary>The followed (imported or queued) files among <paramref name="driveFileIds"/>, by id.</summary>
    public async Task<Dictionary<string, DriveImport>> FollowedAsync(string userId, IReadOnlyCollection<string> driveFileIds, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return (await connection.QueryAsync<DriveImport>(new CommandDefinition(
            $"SELECT {Columns} FROM drive_imports WHERE user_id = @userId AND drive_file_id = ANY(@ids) AND status IN ('queued', 'imported')",
            new { userId, ids = driveFileIds.ToArray() }, cancellationToken: ct))).ToDictionary(i => i.DriveFileId, StringComparer.Ordinal);
    }

    public Task MarkImportedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string userId, DriveFile file, string name, string mimeType, string vaultFileId, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO drive_imports (user_id, drive_file_id, status, vault_file_id, name, mime_type, drive_version, md5, requested_at, imported_at)
            VALUES (@userId, @id, 'imported', @vaultFileId, @name, @mimeType, @version, @md5, @now, @now)
            ON CONFLICT (user_id, drive_file_id) DO UPDATE SET status = 'imported', reason = NULL, vault_file_id = EXCLUDED.vault_file_id,
                name = EXCLUDED.name, mime_type = EXCLUDED.mime_type, drive_version = EXCLUDED.drive_version, md5 = EXCLUDED.md5,
                imported_at = EXCLUDED.imported_at, removed_at = NULL
            """,
            new { userId, id = file.Id, vaultFileId, name, mimeType, version = file.Version, md5 = file.Md5Checksum, now = time.GetUtcNow() },
            tx, cancellationToken: ct));

    public Task MarkRemovedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string userId, string driveFileId, string reason, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE drive_imports SET status = 'removed', reason = @reason, vault_file_id = NULL, removed_at = @now
            WHERE user_id = @userId AND drive_file_id = @driveFileId
            """,
            new { userId, driveFileId, reason, now = time.GetUtcNow() }, tx, cancellationToken: ct));

    public Task MarkSkippedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string userId, string driveFileId, string reason, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            "UPDATE drive_imports SET status = 'skipped', reason = @reason WHERE user_id = @userId AND drive_file_id = @driveFileId AND status <> 'imported'",
            new { userId, driveFileId, reason }, tx, cancellationToken: ct));

    public Task DeleteAllAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string userId, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition("DELETE FROM drive_imports WHERE user_id = @userId", new { userId }, tx, cancellationToken: ct));

    /// <summary>Records an access to the user's Drive or to what came from it (no names, no contents).</summary>
    public Task AuditAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string userId, string action, string? driveFileId, string? vaultFileId, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO drive_audit (user_id, action, drive_file_id, vault_file_id, at) VALUES (@userId, @action, @driveFileId, @vaultFileId, @now)",
            new { userId, action, driveFileId, vaultFileId, now = time.GetUtcNow() }, tx, cancellationToken: ct));

    public async Task<IReadOnlyList<DriveAuditEntry>> AuditTrailAsync(string userId, int limit, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return (await connection.QueryAsync<DriveAuditEntry>(new CommandDefinition(
            "SELECT action, drive_file_id AS drivefileid, vault_file_id AS vaultfileid, at FROM drive_audit WHERE user_id = @userId ORDER BY at DESC, id DESC LIMIT @limit",
            new { userId, limit }, cancellationToken: ct))).ToList();
    }
}

/// <summary>One line of a user's Drive audit trail.</summary>
public sealed record DriveAuditEntry(string Action, string? DriveFileId, string? VaultFileId, DateTime At);
