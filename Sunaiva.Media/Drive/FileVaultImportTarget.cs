using Dapper;
using Npgsql;
using Sunaiva.Media.Files;

namespace Sunaiva.Media.Drive;

/// <summary>
/// Drive imports enter the vault through <see cref="FileIngestion"/>, like uploads: streamed to object storage, typed by
/// their bytes, hashed, deduplicated per source, extracted and indexed. A file the vault refuses (type, size) is skipped
/// with the vault's reason, not retried. The Drive-to-vault mapping stays in <c>drive_imports</c>, so an edit that brings
/// new bytes replaces the earlier vault file.
/// </summary>
public sealed class FileVaultImportTarget(FileIngestion ingestion, FileVault vault, NpgsqlDataSource dataSource) : IDriveImportTarget
{
    public async Task<string> ImportAsync(string userId, string name, string? mimeType, string driveFileId, string idempotencyKey, Stream content, CancellationToken ct)
    {
        var earlier = await VaultFileIdAsync(userId, driveFileId, ct);
        var result = await ingestion.IngestAsync(new FileIngest(userId, name, "drive", driveFileId, mimeType, idempotencyKey), content, ct);
        var saved = result switch
        {
            { Status: IngestStatus.Created or IngestStatus.Duplicate or IngestStatus.Replayed or IngestStatus.KeyReused, File: { } file } => file,
            { Status: IngestStatus.TooLarge } => throw new DriveImportRefusedException("larger than the vault accepts"),
            _ => throw new DriveImportRefusedException(result.Reason ?? "type not accepted by the vault"),
        };
        if (earlier is not null && earlier != saved.Id)
        {
            await vault.DeleteAsync(userId, earlier, ct);
        }

        return saved.Id;
    }

    public async Task DeleteImportedAsync(string userId, string driveFileId, CancellationToken ct)
    {
        if (await VaultFileIdAsync(userId, driveFileId, ct) is { } id)
        {
            await vault.DeleteAsync(userId, id, ct);
        }
    }

    public async Task DeleteAllImportedAsync(string userId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var ids = await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT vault_file_id FROM drive_imports WHERE user_id = @userId AND vault_file_id IS NOT NULL", new { userId }, cancellationToken: ct));
        foreach (var id in ids)
        {
            await vault.DeleteAsync(userId, id, ct);
        }
    }

    private async Task<string?> VaultFileIdAsync(string userId, string driveFileId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT vault_file_id FROM drive_imports WHERE user_id = @userId AND drive_file_id = @driveFileId",
            new { userId, driveFileId }, cancellationToken: ct));
    }
}
