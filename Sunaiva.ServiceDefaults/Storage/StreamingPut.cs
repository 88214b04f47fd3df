using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace Sunaiva.ServiceDefaults.Storage;

/// <summary>
/// Puts a body of known length into storage while it is still arriving, through a presigned PUT URL. AWSSDK.S3's
/// PutObject cannot do that: it reads a seekable stream through once for SigV4's payload hash before sending it (even
/// when the caller sets <c>x-amz-content-sha256</c>; measured with AWSSDK.S3 4.1.0), and it sends a non-seekable one in
/// aws-chunked framing, which s3rver stores as part of the object. A presigned request is signed
/// <c>UNSIGNED-PAYLOAD</c> by S3's design, so the bytes go out once, as they come. Storage keeps no object from a PUT
/// that did not finish; s3rver does (a partial file), so a caller deletes the key after a failed put.
/// The SDK client still does everything else (and is the fallback): this is one request, metered like the SDK's own
/// (capability <c>storage</c>, provider <c>s3-storage</c>), never retried (its body cannot be sent twice).
/// Its deadline is <see cref="IdleTimeout"/> without progress (no byte written, or no answer after the last), not a
/// total: a body arrives as fast as its sender sends it, and a 100 MB file from a slow client is not a stalled store.
/// </summary>
public sealed class StreamingPut(IAmazonS3 s3, StorageConnection connection, HttpClient http, TimeProvider time, TimeSpan? idleTimeout = null)
{
    /// <summary>How long the URL signed for one put stays valid (it is used at once; this only bounds clock skew).</summary>
    private static readonly TimeSpan UrlLifetime = TimeSpan.FromMinutes(15);

    /// <summary>How long a put may go without a byte written to storage, or without storage's answer after the last (by default).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(30);

    private readonly TimeSpan _idleTimeout = idleTimeout ?? IdleTimeout;

    /// <summary>Sends <paramref name="content"/> (which must compute its length) as the object; throws unless storage stored it.</summary>
    public async Task PutAsync(string bucket, string key, string contentType, HttpContent content, CancellationToken cancellationToken)
    {
        var url = await s3.GetPreSignedURLAsync(new GetPreSignedUrlRequest
        {
            BucketName = bucket,
            Key = key,
            Verb = HttpVerb.PUT,
            ContentType = contentType,
            Expires = time.GetUtcNow().Add(UrlLifetime).UtcDateTime,
            Protocol = connection.Endpoint.Scheme == Uri.UriSchemeHttp ? Protocol.HTTP : Protocol.HTTPS,
        });

        // Wall-clock time on purpose (not the app's TimeProvider, which tests move ahead): this bounds a network wait.
        using var idle = new CancellationTokenSource(_idleTimeout);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, idle.Token);
        using var body = new ProgressContent(content, idle, _idleTimeout);
        body.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        using var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = body };
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
        }
        catch (OperationCanceledException ex) when (idle.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new AmazonClientException("Storage failed during a streamed put.", new TimeoutException($"Storage made no progress on a streamed put for {_idleTimeout.TotalSeconds:0.#} s.", ex));
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            // As the SDK's own requests fail: a storage failure with its network cause (answered 503, not taken for a bug).
            throw new AmazonClientException("Storage failed during a streamed put.", ex);
        }

        using (response)
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new AmazonS3Exception($"Storage answered {(int)response.StatusCode} to a streamed put", ErrorType.Unknown, null, null, response.StatusCode);
            }
        }
    }

    /// <summary>The caller's content, pushing the idle deadline back on every write of it.</summary>
    private sealed class ProgressContent(HttpContent inner, CancellationTokenSource idle, TimeSpan timeout) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            inner.CopyToAsync(new ProgressStream(stream, idle, timeout), context, cancellationToken);

        protected override bool TryComputeLength(out long length)
        {
            length = inner.Headers.ContentLength ?? -1;
            return length >= 0;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>A write-only view of the request stream that pushes the idle deadline back before each write.</summary>
    private sealed class ProgressStream(Stream inner, CancellationTokenSource idle, TimeSpan timeout) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            idle.CancelAfter(timeout);
            return inner.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count)
        {
            idle.CancelAfter(timeout);
            inner.Write(buffer, offset, count);
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
