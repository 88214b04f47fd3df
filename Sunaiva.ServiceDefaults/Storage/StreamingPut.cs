using System.Net;
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
/// </summary>
public sealed class StreamingPut(IAmazonS3 s3, StorageConnection connection, HttpClient http, TimeProvider time)
{
    /// <summary>How long the URL signed for one put stays valid (it is used at once; this only bounds clock skew).</summary>
    private static readonly TimeSpan UrlLifetime = TimeSpan.FromMinutes(15);

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
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        using var request = new HttpRequestMessage(HttpMethod.Put, url) { Content = content };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new AmazonS3Exception($"Storage answered {(int)response.StatusCode} to a streamed put", Amazon.Runtime.ErrorType.Unknown, null, null, response.StatusCode);
        }
    }
}
