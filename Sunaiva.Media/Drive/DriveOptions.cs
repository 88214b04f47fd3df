using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Media.Drive;

/// <summary>
/// Google Drive (section <c>Drive</c>). Optional: without <see cref="ClientId"/> and <see cref="ClientSecret"/> (AppHost secret
/// parameters) every Drive endpoint answers 503 with Retry-After. Base URLs are Google's and only change for tests (the fake).
/// </summary>
public sealed class DriveOptions
{
    public const string SectionName = "Drive";

    public const string FileScope = "https://www.googleapis.com/auth/drive.file";
    public const string ReadOnlyScope = "https://www.googleapis.com/auth/drive.readonly";

    public string? ClientId { get; set; }

    public string? ClientSecret { get; set; }

    /// <summary>The absolute address of <c>GET /drive/callback</c> registered at Google; derived from the request when unset.</summary>
    [Url]
    public string? RedirectUri { get; set; }

    /// <summary>Where the browser goes after the callback (the client app); the callback answers JSON when unset.</summary>
    [Url]
    public string? ReturnUrl { get; set; }

    /// <summary>Lets a user ask for <c>drive.readonly</c> (incrementally, on top of <c>drive.file</c>); off by default.</summary>
    public bool AllowReadOnlyScope { get; set; }

    [Required(ErrorMessage = "Drive:AuthorizationEndpoint is required.")]
    [Url]
    public string AuthorizationEndpoint { get; set; } = "https://accounts.google.com/o/oauth2/v2/auth";

    [Required(ErrorMessage = "Drive:TokenEndpoint is required.")]
    [Url]
    public string TokenEndpoint { get; set; } = "https://oauth2.googleapis.com/token";

    [Required(ErrorMessage = "Drive:RevokeEndpoint is required.")]
    [Url]
    public string RevokeEndpoint { get; set; } = "https://oauth2.googleapis.com/revoke";

    /// <summary>Drive v3 REST root (<c>{ApiBaseUrl}drive/v3/...</c>).</summary>
    [Required(ErrorMessage = "Drive:ApiBaseUrl is required.")]
    [Url]
    public string ApiBaseUrl { get; set; } = "https://www.googleapis.com/";

    /// <summary>How long a <c>state</c> from <c>POST /drive/connect</c> may be used (once).</summary>
    [Range(typeof(TimeSpan), "00:00:30", "01:00:00", ErrorMessage = "Drive:StateLifetime must be between 30 s and 1 h.")]
    public TimeSpan StateLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>An access token is refreshed when it has less than this left.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:30:00", ErrorMessage = "Drive:RefreshBefore must be between 0 and 30 min.")]
    public TimeSpan RefreshBefore { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often each connected user's changes feed is read (push notifications come in between).</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00", ErrorMessage = "Drive:SyncInterval must be between 10 s and 1 day.")]
    public TimeSpan SyncInterval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Public HTTPS address of <c>POST /webhooks/google-drive</c> for <c>changes.watch</c> channels (Google calls it); no
    /// channels are opened when unset, and the schedule alone keeps the vault in sync.
    /// </summary>
    [Url]
    public string? WebhookAddress { get; set; }

    /// <summary>Lifetime asked for a watch channel (Google caps it at a week for changes); renewed by the scheduled sync.</summary>
    [Range(typeof(TimeSpan), "00:05:00", "7.00:00:00", ErrorMessage = "Drive:ChannelLifetime must be between 5 min and 7 days.")]
    public TimeSpan ChannelLifetime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Largest Drive file imported (bytes); larger files are skipped with a reason.</summary>
    [Range(1, long.MaxValue, ErrorMessage = "Drive:MaxImportBytes must be positive.")]
    public long MaxImportBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Largest wait of the exponential back-off after Drive's rate-limit answers.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Drive:MaxBackoff must be between 1 s and 1 h.")]
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(64);

    public bool IsConfigured => !string.IsNullOrWhiteSpace(ClientId) && !string.IsNullOrWhiteSpace(ClientSecret);
}
