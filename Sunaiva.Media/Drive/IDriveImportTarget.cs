namespace Sunaiva.Media.Drive;

/// <summary>
/// Where Drive content lands: the vault's ingestion. Drive depends on this only, so the vault can change underneath
/// (today <see cref="FileVaultImportTarget"/> on <c>FileVault</c>; at merge, <c>FileIngestion.IngestAsync</c> with source "drive").
/// </summary>
public interface IDriveImportTarget
{
    /// <summary>
    /// Stores <paramref name="content"/> as the user's file for <paramref name="driveFileId"/>, replacing an earlier import of the
    /// same Drive file. Idempotent by <paramref name="idempotencyKey"/> (Drive file id + version): a retry returns the same file id.
    /// </summary>
    Task<string> ImportAsync(string userId, string name, string? mimeType, string driveFileId, string idempotencyKey, Stream content, CancellationToken ct);

    /// <summary>Removes the user's file imported from <paramref name="driveFileId"/>; nothing when there is none.</summary>
    Task DeleteImportedAsync(string userId, string driveFileId, CancellationToken ct);

    /// <summary>Removes every file the user imported from Drive.</summary>
    Task DeleteAllImportedAsync(string userId, CancellationToken ct);
}
