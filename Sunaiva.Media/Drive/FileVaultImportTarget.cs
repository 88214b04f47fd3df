using Dapper;
using Npgsql;
using Sunaiva.Media.Files;

namespace Sunaiva.Media.Drive;

/// <summary>
/// Interim adapter onto today's <see cref="FileVault"/> (buffers the content; the vault rewrite streams). The Drive-to-vault
/// mapping lives in <c>drive_imports</c> because today's files rows have no source id. At merge: rewire onto
/// <c>FileIngestion.IngestAsync(new FileIngest(userId, name, mimeType, "drive", driveFileId, idempotencyKey), content, ct)</c>.
/// </summary>
public sealed class FileVaultImportTarget(FileVault vault, NpgsqlDataSource dataSource, Microsoft.Extensions.Options.IOptions<FileVaultOptions> limits) : IDriveImportTarget
{
    public async Task<string> ImportAsync(string userId, string name, string? mimeType, string driveFileId, string idempotencyKey, Stream content, CancellationToken ct)
    {
        // The same allow list as uploads (the rewritten vault checks types by their bytes; this one trusts Drive's type).
        if (mimeType is null || !limits.Value.AllowedContentTypes.Contains(mimeType, StringComparer.OrdinalIgnoreCase))
        {
            throw new DriveImportRefusedException("type not accepted by the vault");
        }

        var earlier = await VaultFileIdAsync(userId, driveFileId, ct);
        var saved = await vault.SaveAsync(userId, name, mimeType ?? "application/octet-stream", content, idempotencyKey, ct);
        if (earlier is not null && earlier != saved.File.Id)
        {
            await vault.DeleteAsync(userId, earlier, ct);
        }

        return saved.File.Id;
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
