using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace Sunaiva.Media.Files;

/// <summary>
/// Bounds the uploads streaming at once (each holds up to FileVault:PartsInFlight + 1 parts in memory and that many storage connections), with a
/// queue in front; an upload that finds the queue full is refused with 503 and Retry-After instead of timing out.
/// </summary>
public sealed class UploadGate(IOptions<FileVaultOptions> options) : IDisposable
{
    private readonly ConcurrencyLimiter _limiter = new(new ConcurrencyLimiterOptions
    {
        PermitLimit = options.Value.MaxConcurrentUploads,
        QueueLimit = options.Value.UploadQueueLimit,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
    });

    /// <summary>Seconds a refused client should wait before trying again.</summary>
    public const int RetryAfterSeconds = 2;

    public ValueTask<RateLimitLease> EnterAsync(CancellationToken ct) => _limiter.AcquireAsync(1, ct);

    /// <summary>Uploads streaming (permits taken) and waiting in the queue now.</summary>
    public (long Streaming, long Queued) Occupancy() =>
        _limiter.GetStatistics() is { } stats ? (options.Value.MaxConcurrentUploads - stats.CurrentAvailablePermits, stats.CurrentQueuedCount) : (0, 0);

    public void Dispose() => _limiter.Dispose();
}
