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
    /// Throws <see cref="DriveImportRefusedException"/> when the vault refuses this content (type, size): the import is skipped
    /// with that reason instead of retried.
    /// </summary>
    Task<string> ImportAsync(string userId, string name, string? mimeType, string driveFileId, string idempotencyKey, Stream content, CancellationToken ct);

    /// <summary>Removes the user's file imported from <paramref name="driveFileId"/>; nothing when there is none.</summary>
    Task DeleteImportedAsync(string userId, string driveFileId, CancellationToken ct);

    /// <summary>Removes every file the user imported from Drive.</summary>
    Task DeleteAllImportedAsync(string userId, CancellationToken ct);
}

/// <summary>The vault refused this content for what it is (type not accepted, too large): retrying cannot help.</summary>
public sealed class DriveImportRefusedException : Exception
{
    public DriveImportRefusedException(string reason)
        : base($"The vault refused the file: {reason}") => Reason = reason;

    public DriveImportRefusedException()
        : this("refused")
    {
    }

    public DriveImportRefusedException(string message, Exception inner)
        : base(message, inner) => Reason = message;

    /// <summary>Why, in words safe to show the user and keep in <c>drive_imports.reason</c> (no content).</summary>
    public string Reason { get; } = "refused";
}
