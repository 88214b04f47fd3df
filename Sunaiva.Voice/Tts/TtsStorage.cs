using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Options;
using Sunaiva.ServiceDefaults.Storage;

namespace Sunaiva.Voice.Tts;

/// <summary>
/// The object-storage tier of the TTS cache: clips too large for HybridCache as WAV objects under <c>tts/</c> in the
/// AppHost's storage. Optional (no <c>storage</c> connection: <see cref="Enabled"/> is false) and never in the way:
/// every call is bounded by <see cref="TtsOptions.StorageTimeout"/> and a storage that is down reads as "not stored",
/// so the clip is synthesized and served uncached.
/// </summary>
public sealed partial class TtsStorage(IServiceProvider services, IOptions<TtsOptions> options, TimeProvider time, ILogger<TtsStorage> logger)
{
    public const string Prefix = "tts/";

    private readonly IAmazonS3? _s3 = services.GetService<IAmazonS3>();
    private readonly StorageConnection? _connection = services.GetService<StorageConnection>();
    private readonly StorageCircuit? _circuit = services.GetService<StorageCircuit>();
    private int _bucketReady;
    private long _failures;

    /// <summary>Storage calls that failed or timed out since start.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>When a storage call last failed (null: never since start).</summary>
    public DateTimeOffset? LastFailureAt { get; private set; }

    public bool Enabled => _s3 is not null;

    /// <summary>Whether the storage circuit refuses requests now: storage is not asked, large clips are synthesized at once.</summary>
    public bool CircuitOpen => _circuit?.Refusing == true;

    private string Bucket => options.Value.StorageBucket;

    /// <summary>The object of a cache key: <c>tts/{voice}/{hash}.wav</c>.</summary>
    public static string ObjectKey(string cacheKey)
    {
        var parts = cacheKey.Split(':');
        return $"{Prefix}{parts[^3]}/{parts[^2]}/{parts[^1]}.wav";
    }

    /// <summary>Stores a clip as a WAV object; false (logged) when storage is disabled or does not answer in time.</summary>
    public async Task<bool> PutAsync(string objectKey, byte[] pcm, CancellationToken ct)
    {
        if (_s3 is null)
        {
            return false;
        }

        try
        {
            return await BoundedAsync(async token =>
            {
                await EnsureBucketAsync(token);
                var put = StorageExtensions.NewPut(Bucket, objectKey);
                put.InputStream = new MemoryStream([.. TtsFormat.WavHeader(pcm.Length), .. pcm]);
                put.ContentType = "audio/wav";
                await _s3.PutObjectAsync(put, token);
                return true;
            }, wholeTimeoutPerAttempt: true, ct);
        }
        catch (Exception e) when (IsStorageFailure(e, ct))
        {
            Failed();
            LogStorageFailed(logger, "put", e.GetType().Name);
            return false;
        }
    }

    /// <summary>Opens a stored clip's PCM (the WAV header skipped) and its length; null when missing or storage is down.</summary>
    public async Task<(Stream Pcm, long Length)?> OpenAsync(string objectKey, CancellationToken ct)
    {
        if (_s3 is null)
        {
            return null;
        }

        GetObjectResponse? response = null;
        try
        {
            response = await BoundedAsync(token => _s3.GetObjectAsync(Bucket, objectKey, token), wholeTimeoutPerAttempt: false, ct);
            var body = response.ResponseStream;
            var header = new byte[44];
            using var reading = CancellationTokenSource.CreateLinkedTokenSource(ct);
            reading.CancelAfter(options.Value.StorageTimeout);
            await body.ReadExactlyAsync(header, reading.Token);
            return (new OwnedStream(body, response), response.ContentLength - 44);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            response?.Dispose();
            return null;
        }
        catch (Exception e) when (IsStorageFailure(e, ct))
        {
            response?.Dispose();
            Failed();
            LogStorageFailed(logger, "get", e.GetType().Name);
            return null;
        }
    }

    /// <summary>A GET link to a stored clip valid until <paramref name="expires"/>; null when storage is disabled.</summary>
    public string? Presign(string objectKey, DateTimeOffset expires) => _s3 is null || _connection is null ? null : _s3.GetPreSignedURL(new GetPreSignedUrlRequest
    {
        BucketName = Bucket,
        Key = objectKey,
        Verb = HttpVerb.GET,
        Expires = expires.UtcDateTime,
        Protocol = _connection.Endpoint.Scheme == Uri.UriSchemeHttp ? Protocol.HTTP : Protocol.HTTPS,
    });

    private void Failed()
    {
        Interlocked.Increment(ref _failures);
        LastFailureAt = time.GetUtcNow();
    }

    /// <summary>
    /// One storage call, waited for at most <see cref="TtsOptions.StorageTimeout"/> (wall clock: it bounds a network wait).
    /// The call itself is not cancelled at the deadline: each of the SDK's (up to three) attempts has a quarter of it as a
    /// timeout the process's storage circuit counts (<see cref="StorageCircuit.AttemptTimeoutOf"/>), and a call given up
    /// on ends by those (an answer that comes after all is disposed). Polly's breaker counts a cancelled call as a success:
    /// with storage hung and the deadline cancelling, the circuit never opened and every reply whose clip was stored waited
    /// the whole timeout (3 s) before it was synthesized again; now the circuit opens and refuses at once.
    /// A put (in the background, after the reply) gives each attempt the whole timeout instead: its attempt sends the clip
    /// (up to <see cref="TtsOptions.MaxStoredBytes"/>) before storage answers.
    /// </summary>
    private async Task<T> BoundedAsync<T>(Func<CancellationToken, Task<T>> call, bool wholeTimeoutPerAttempt, CancellationToken ct)
    {
        Task<T> running;
        var timeout = options.Value.StorageTimeout;
        using (StorageCircuit.AttemptTimeoutOf(wholeTimeoutPerAttempt ? timeout : timeout / 4))
        {
            running = call(ct);
        }

        try
        {
            return await running.WaitAsync(timeout, ct);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            _ = running.ContinueWith(
                static done =>
                {
                    if (done.IsCompletedSuccessfully)
                    {
                        (done.Result as IDisposable)?.Dispose();
                    }
                    else
                    {
                        _ = done.Exception;
                    }
                },
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }
    }

    // Created on first use rather than at start: storage that is down at start must not keep Voice from starting.
    private async Task EnsureBucketAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _bucketReady) == 1)
        {
            return;
        }

        try
        {
            await _s3!.PutBucketAsync(new PutBucketRequest { BucketName = Bucket }, ct);
        }
        catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
        {
        }

        Volatile.Write(ref _bucketReady, 1);
    }

    private static bool IsStorageFailure(Exception e, CancellationToken ct) =>
        e is AmazonServiceException or AmazonClientException or HttpRequestException or IOException or TimeoutException
        || (e is OperationCanceledException && !ct.IsCancellationRequested);

    [LoggerMessage(Level = LogLevel.Warning, Message = "TTS object storage {Operation} failed ({Error}); the clip is served uncached")]
    private static partial void LogStorageFailed(ILogger logger, string operation, string error);

    /// <summary>The S3 body, disposing its response with it.</summary>
    private sealed class OwnedStream(Stream inner, IDisposable owner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                owner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
