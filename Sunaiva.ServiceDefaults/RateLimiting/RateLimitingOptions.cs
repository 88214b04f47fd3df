using System.ComponentModel.DataAnnotations;

namespace Sunaiva.ServiceDefaults.RateLimiting;

/// <summary>
/// Inbound request limits (section <c>RateLimiting</c>): a fixed window per authenticated user (<c>sub</c>) and,
/// for anonymous callers, per client IP. The defaults are generous, so tests and benches never meet them.
/// </summary>
public sealed class RateLimitingOptions
{
    public const string SectionName = "RateLimiting";

    public bool Enabled { get; set; } = true;

    [Range(1, int.MaxValue, ErrorMessage = "RateLimiting:PermitsPerUser must be at least 1.")]
    public int PermitsPerUser { get; set; } = 600;

    [Range(1, int.MaxValue, ErrorMessage = "RateLimiting:PermitsPerIp must be at least 1.")]
    public int PermitsPerIp { get; set; } = 1200;

    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00", ErrorMessage = "RateLimiting:Window must lie between 00:00:01 and 1.00:00:00.")]
    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Path prefixes never limited: health probes, provider webhooks (authenticated by signature; a throttled
    /// provider only retries harder) and the conversation backend's token-authenticated internal events.
    /// </summary>
    [Required(ErrorMessage = "RateLimiting:ExemptPaths is not configured.")]
    public string[] ExemptPaths { get; set; } = ["/health", "/alive", "/webhooks", "/internal/events"];
}
