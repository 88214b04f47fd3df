using System.Text.Json;
using Microsoft.Extensions.Options;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Drive;

/// <summary>
/// Imports one picked Drive file (kind <c>drive.import</c>, partitioned by user): reads its metadata, exports Docs/Sheets/Slides
/// to text or downloads other files, streams the content into the vault and records the import. Idempotent by (user, Drive
/// file, version/md5): an unchanged file is not fetched again, and the vault write carries that key.
/// </summary>
public sealed partial class DriveImportWork(
    DriveGateway gateway,
    DriveImportStore imports,
    IDriveImportTarget target,
    IOptions<DriveOptions> options,
    ILogger<DriveImportWork> logger) : IWorkHandler
{
    public const string WorkKind = "drive.import";

    public string Kind => WorkKind;

    public static NewWork For(string userId, string driveFileId, string keySuffix) => new(
        WorkKind,
        $"{WorkKind}:{DriveKeys.UserKey(userId)}:{driveFileId}:{keySuffix}",
        JsonSerializer.Serialize(new Payload(userId, driveFileId)),
        PartitionKey: DriveKeys.Partition(userId));

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.Deserialize<Payload>(context.Item.Payload) ?? throw new PermanentWorkFailureException("unreadable drive.import payload");
        var (userId, fileId) = (payload.UserId, payload.DriveFileId);
        DriveFile file;
        try
        {
            file = await gateway.CallAsync(userId, "files.get", (p, token, ct) => p.GetFileAsync(token, fileId, ct), cancellationToken);
        }
        catch (Exception ex) when (ex is DriveNotConnectedException or DriveReconsentRequiredException)
        {
            await context.IgnoreAsync(ex is DriveNotConnectedException ? "not connected" : "re-consent required", cancellationToken);
            return;
        }
        catch (DriveFileNotFoundException)
        {
            // Deleted, or never granted to this app (drive.file sees picked files only).
            await RemoveAsync(context, userId, fileId, "not found", cancellationToken);
            return;
        }

        if (file.Trashed)
        {
            await RemoveAsync(context, userId, fileId, "trashed", cancellationToken);
            return;
        }

        var export = DriveExports.ExportFor(file.MimeType);
        if (DriveExports.IsWorkspaceType(file.MimeType) && export is null)
        {
            await SkipAsync(context, userId, fileId, "not an exportable document", cancellationToken);
            return;
        }

        if (export is null && file.SizeBytes > options.Value.MaxImportBytes)
        {
            await SkipAsync(context, userId, fileId, "larger than Drive:MaxImportBytes", cancellationToken);
            return;
        }

        var earlier = await imports.GetAsync(userId, fileId, cancellationToken);
        if (earlier is { Status: "imported" } && earlier.DriveVersion == file.Version && earlier.VaultFileId is not null)
        {
            await context.IgnoreAsync("unchanged", cancellationToken);
            return;
        }

        var name = DriveKeys.CleanName(file.Name, export?.Extension);
        var mimeType = export?.MimeType ?? file.MimeType ?? "application/octet-stream";
        var idempotencyKey = $"drive:{fileId}:{file.Version ?? file.Md5Checksum ?? "0"}";
        string vaultFileId;
        using (var response = await gateway.CallAsync(userId, export is null ? "files.download" : "files.export",
                   (p, token, ct) => p.OpenContentAsync(token, fileId, export?.MimeType, ct), cancellationToken, unit: "transfers"))
        {
            await using var content = await response.Content.ReadAsStreamAsync(cancellationToken);
            try
            {
                vaultFileId = await target.ImportAsync(userId, name, mimeType, fileId, idempotencyKey, content, cancellationToken);
            }
            catch (DriveImportRefusedException refused)
            {
                await SkipAsync(context, userId, fileId, refused.Reason, cancellationToken);
                return;
            }
        }

        await context.CommitAsync(async (c, tx, ct) =>
        {
            await imports.MarkImportedAsync(c, tx, userId, file, name, mimeType, vaultFileId, ct);
            await imports.AuditAsync(c, tx, userId, earlier?.VaultFileId is null ? "imported" : "reimported", fileId, vaultFileId, ct);
        }, cancellationToken);
        LogImported(logger, export is null ? "downloaded" : "exported");
    }

    private async Task RemoveAsync(WorkContext context, string userId, string fileId, string reason, CancellationToken ct)
    {
        await target.DeleteImportedAsync(userId, fileId, ct);
        await context.CommitAsync(async (c, tx, t) =>
        {
            await imports.MarkRemovedAsync(c, tx, userId, fileId, reason, t);
            await imports.AuditAsync(c, tx, userId, "removed", fileId, null, t);
        }, ct);
    }

    private Task SkipAsync(WorkContext context, string userId, string fileId, string reason, CancellationToken ct) =>
        context.CommitAsync((c, tx, t) => imports.MarkSkippedAsync(c, tx, userId, fileId, reason, t), ct);

    [LoggerMessage(Level = LogLevel.Information, Message = "Drive file {How} into the vault")]
    private static partial void LogImported(ILogger logger, string how);

    internal sealed record Payload(string UserId, string DriveFileId);
}

/// <summary>Keys and names shared by Drive's work kinds.</summary>
internal static class DriveKeys
{
    /// <summary>Work keys and partitions carry a hash of the user id, not the id itself (ops views show keys).</summary>
    public static string UserKey(string userId) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(userId)))[..24];

    public static string Partition(string userId) => $"drive:{UserKey(userId)}";

    /// <summary>The base name, without control characters or path separators, with the export's extension.</summary>
    public static string CleanName(string? name, string? extension)
    {
        var clean = new string((name ?? "untitled").Where(c => !char.IsControl(c) && c is not '/' and not '\\').ToArray()).Trim();
        clean = clean is "" or "." or ".." ? "untitled" : clean;
        if (extension is not null && !clean.EndsWith(extension, StringComparison.OrdinalIgnoreCase))
        {
            clean += extension;
        }

        return clean.Length > 255 ? clean[..255] : clean;
    }

    public static bool IsValidFileId(string id) => id.Length is > 0 and <= 200 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
}
