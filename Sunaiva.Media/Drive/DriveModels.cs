using System.Text.Json.Serialization;

namespace Sunaiva.Media.Drive;

/// <summary>The fields of a Drive v3 <c>File</c> this service reads (<c>files.get?fields=...</c>).</summary>
public sealed record DriveFile(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("mimeType")] string? MimeType,
    [property: JsonPropertyName("version")] string? Version,
    [property: JsonPropertyName("md5Checksum")] string? Md5Checksum,
    [property: JsonPropertyName("size")] string? Size,
    [property: JsonPropertyName("trashed")] bool Trashed)
{
    public const string Fields = "id,name,mimeType,version,md5Checksum,size,trashed";

    public long? SizeBytes => long.TryParse(Size, out var size) ? size : null;
}

/// <summary>One entry of <c>changes.list</c>.</summary>
public sealed record DriveChange(
    [property: JsonPropertyName("fileId")] string? FileId,
    [property: JsonPropertyName("removed")] bool Removed,
    [property: JsonPropertyName("changeType")] string? ChangeType,
    [property: JsonPropertyName("file")] DriveFile? File);

/// <summary>A page of <c>changes.list</c>: <c>nextPageToken</c> while more pages follow, <c>newStartPageToken</c> on the last.</summary>
public sealed record DriveChangePage(
    [property: JsonPropertyName("nextPageToken")] string? NextPageToken,
    [property: JsonPropertyName("newStartPageToken")] string? NewStartPageToken,
    [property: JsonPropertyName("changes")] IReadOnlyList<DriveChange>? Changes);

/// <summary>A <c>changes.watch</c> channel as Google answers it.</summary>
public sealed record DriveChannel(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("resourceId")] string? ResourceId,
    [property: JsonPropertyName("expiration")] string? Expiration);

/// <summary>Google Workspace documents are exported to text; everything else is downloaded as it is.</summary>
public static class DriveExports
{
    private static readonly Dictionary<string, (string MimeType, string Extension)> Formats = new(StringComparer.Ordinal)
    {
        ["application/vnd.google-apps.document"] = ("text/plain", ".txt"),
        ["application/vnd.google-apps.spreadsheet"] = ("text/csv", ".csv"),
        ["application/vnd.google-apps.presentation"] = ("text/plain", ".txt"),
    };

    public static bool IsWorkspaceType(string? mimeType) => mimeType?.StartsWith("application/vnd.google-apps.", StringComparison.Ordinal) == true;

    /// <summary>The export format of a Docs/Sheets/Slides file; null for other Workspace types (folders, forms, ...).</summary>
    public static (string MimeType, string Extension)? ExportFor(string? mimeType) =>
        mimeType is not null && Formats.TryGetValue(mimeType, out var format) ? format : null;
}
