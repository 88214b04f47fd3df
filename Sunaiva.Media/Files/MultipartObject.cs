using System.Net;
using Amazon.S3;
using Amazon.S3.Model;

namespace Sunaiva.Media.Files;

/// <summary>One S3 multipart upload: parts in order, then complete or abort.</summary>
public sealed class MultipartObject(IAmazonS3 s3, string bucket, string key, string uploadId)
{
    private readonly List<PartETag> _parts = [];

    public string Key => key;

    public string UploadId => uploadId;

    public static async Task<MultipartObject> StartAsync(IAmazonS3 s3, string bucket, string key, string contentType, CancellationToken ct)
    {
        var response = await s3.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = bucket, Key = key, ContentType = contentType }, ct);
        return new MultipartObject(s3, bucket, key, response.UploadId);
    }

    public async Task UploadPartAsync(int partNumber, byte[] buffer, int length, CancellationToken ct)
    {
        using var body = new MemoryStream(buffer, 0, length, writable: false);
        var response = await s3.UploadPartAsync(new UploadPartRequest
        {
            BucketName = bucket,
            Key = key,
            UploadId = uploadId,
            PartNumber = partNumber,
            PartSize = length,
            InputStream = body,
            UseChunkEncoding = false,
        }, ct);
        lock (_parts)
        {
            _parts.Add(new PartETag(partNumber, response.ETag));
        }
    }

    public Task CompleteAsync(CancellationToken ct) => CompleteAsync(s3, bucket, key, uploadId, _parts, ct);

    public static async Task CompleteAsync(IAmazonS3 s3, string bucket, string key, string uploadId, IEnumerable<PartETag> parts, CancellationToken ct) =>
        await s3.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest
        {
            BucketName = bucket,
            Key = key,
            UploadId = uploadId,
            PartETags = parts.OrderBy(p => p.PartNumber).ToList(),
        }, ct);

    public Task AbortAsync() => AbortAsync(s3, bucket, key, uploadId, _parts);

    /// <summary>
    /// Aborts the upload so no part stays billed or on disk. s3rver (the local store) implements no abort: there the
    /// parts are joined into the object, which is then deleted, which removes them as well.
    /// </summary>
    public static async Task AbortAsync(IAmazonS3 s3, string bucket, string key, string uploadId, IReadOnlyCollection<PartETag>? knownParts)
    {
        try
        {
            await s3.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = bucket, Key = key, UploadId = uploadId }, CancellationToken.None);
            return;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound || ex.ErrorCode == "NoSuchUpload")
        {
            return;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode is HttpStatusCode.MethodNotAllowed or HttpStatusCode.NotImplemented || ex.ErrorCode is "NotImplemented" or "MethodNotAllowed")
        {
        }

        var parts = knownParts is { Count: > 0 } ? knownParts.ToList() : [];
        try
        {
            if (parts.Count == 0)
            {
                using var empty = new MemoryStream([]);
                var part = await s3.UploadPartAsync(new UploadPartRequest { BucketName = bucket, Key = key, UploadId = uploadId, PartNumber = 1, PartSize = 0, InputStream = empty, UseChunkEncoding = false }, CancellationToken.None);
                parts.Add(new PartETag(1, part.ETag));
            }

            await CompleteAsync(s3, bucket, key, uploadId, parts, CancellationToken.None);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound || ex.ErrorCode is "NoSuchUpload" or "InvalidPart")
        {
        }

        await s3.DeleteObjectAsync(bucket, key, CancellationToken.None);
    }
}
