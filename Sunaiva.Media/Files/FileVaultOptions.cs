using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Media.Files;

/// <summary>Limits of uploads and extraction (section <c>FileVault</c>).</summary>
public sealed class FileVaultOptions
{
    public const string SectionName = "FileVault";

    /// <summary>The largest file accepted, enforced while the body streams (413 past it).</summary>
    [Range(1, 5L << 30)]
    public long MaxUploadBytes { get; set; } = 100 * 1024 * 1024;

    /// <summary>Bytes buffered per storage part (S3 wants at least 5 MiB for every part but the last).</summary>
    [Range(5 * 1024 * 1024, 64 * 1024 * 1024)]
    public int PartSizeBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Parts of one streaming upload travelling to storage while the next part is read from the client; an upload holds at
    /// most this many parts plus one in memory (1: one part sent while the next is read). More helps a store that takes
    /// parts in parallel (S3); s3rver, the local store, gained nothing from 2 or 3 (it writes one part at a time and joins
    /// the parts by copying them on completion) while a 100 MB upload's memory rose from +36 MB to +44-46 / +58 MB.
    /// </summary>
    [Range(1, 8)]
    public int PartsInFlight { get; set; } = 1;

    /// <summary>Uploads streaming at once; each holds at most PartsInFlight + 1 parts in memory.</summary>
    [Range(1, 256)]
    public int MaxConcurrentUploads { get; set; } = 4;

    /// <summary>Uploads waiting for a slot; past this an upload is refused with 503 and Retry-After.</summary>
    [Range(0, 10_000)]
    public int UploadQueueLimit { get; set; } = 64;

    /// <summary>A streaming upload whose row is still in <c>file_uploads</c> after this long was orphaned by a crash.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan OrphanedUploadAge { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How often storage is listed for objects no file and no upload owns (UploadSweeper.ScanStorageAsync): a crash
    /// between a small file's put and its row leaves one.
    /// </summary>
    [Range(typeof(TimeSpan), "00:01:00", "7.00:00:00")]
    public TimeSpan OrphanScanInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How old (by storage's own modification time) an object no file and no upload owns must be before the scan deletes
    /// it: far longer than any put takes to get its row (milliseconds), so an upload in progress is never taken.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan UnownedObjectAge { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a resumable upload's part URLs (and the upload) stay valid.</summary>
    [Range(typeof(TimeSpan), "00:05:00", "7.00:00:00")]
    public TimeSpan ResumableUploadLifetime { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Characters of extracted text kept per file (read_file reads from these).</summary>
    [Range(1_000, 50_000_000)]
    public int MaxExtractedChars { get; set; } = 2_000_000;

    /// <summary>Characters of a file's text that go into its search vector (Postgres caps a tsvector at 1 MB).</summary>
    [Range(1_000, 500_000)]
    public int MaxIndexedChars { get; set; } = 200_000;

    /// <summary>Pages of a PDF read; the rest is left out (and the text marked truncated).</summary>
    [Range(1, 100_000)]
    public int MaxPdfPages { get; set; } = 2_000;

    /// <summary>Total uncompressed bytes a .docx may expand to (a decompression bomb is refused).</summary>
    [Range(1024, 4L << 30)]
    public long MaxDocxUncompressedBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Time one file's extraction may take.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan ExtractionTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Time one audio file's transcription may take (Voice decodes and recognizes it).</summary>
    [Range(typeof(TimeSpan), "00:00:05", "02:00:00")]
    public TimeSpan TranscriptionTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Audio files are transcribed by Voice's <c>POST /transcriptions</c> when Voice is wired.</summary>
    public bool TranscriptionEnabled { get; set; } = true;

    /// <summary>The Voice service as service discovery names it.</summary>
    [Required(ErrorMessage = "FileVault:VoiceBaseUrl is not configured.")]
    public string VoiceBaseUrl { get; set; } = "https+http://voice";
}
