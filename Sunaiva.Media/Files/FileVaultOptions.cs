using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Media.Files;

/// <summary>Limits of local uploads (section <c>FileVault</c>).</summary>
public sealed class FileVaultOptions
{
    public const string SectionName = "FileVault";

    [Range(1, 1L << 30)]
    public long MaxUploadBytes { get; set; } = 25 * 1024 * 1024;

    [MinLength(1)]
    public string[] AllowedContentTypes { get; set; } =
    [
        "text/plain", "text/markdown", "text/csv", "application/pdf", "application/json",
        "image/png", "image/jpeg", "image/webp", "image/gif", "audio/mpeg", "audio/wav", "audio/ogg",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ];
}
