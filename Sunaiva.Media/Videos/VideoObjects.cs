using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Options;
using Sunaiva.ServiceDefaults.Storage;

namespace Sunaiva.Media.Videos;

/// <summary>The files of a video in the private <c>sunaiva-videos</c> bucket, under the user's prefix; clients only get presigned links.</summary>
public sealed class VideoObjects(IAmazonS3 s3, StorageConnection storage, IOptions<VideoOptions> options, TimeProvider time)
{
    public static readonly (string File, string ContentType)[] Files = [("video.mp4", "video/mp4"), ("poster.jpg", "image/jpeg"), ("captions.vtt", "text/vtt")];

    public async Task UploadAsync(VideoRow video, int revision, RenderedVideo rendered, CancellationToken ct)
    {
        string[] paths = [rendered.VideoPath, rendered.PosterPath, rendered.CaptionsPath];
        for (var i = 0; i < Files.Length; i++)
        {
            var put = StorageExtensions.NewPut(Extensions.VideosBucket, $"{video.ObjectPrefix}r{revision}/{Files[i].File}");
            put.FilePath = paths[i];
            put.ContentType = Files[i].ContentType;
            await s3.PutObjectAsync(put, ct);
        }
    }

    public async Task DeleteRevisionAsync(VideoRow video, int revision, CancellationToken ct)
    {
        foreach (var (file, _) in Files)
        {
            await s3.DeleteObjectAsync(Extensions.VideosBucket, $"{video.ObjectPrefix}r{revision}/{file}", ct);
        }
    }

    /// <summary>Deletes every object under a prefix (a user's videos); returns how many.</summary>
    public async Task<int> DeletePrefixAsync(string prefix, CancellationToken ct, int pageSize = 1000)
    {
        var deleted = 0;
        await foreach (var page in s3.ListPagesAsync(Extensions.VideosBucket, prefix, pageSize, ct))
        {
            foreach (var item in page)
            {
                await s3.DeleteObjectAsync(Extensions.VideosBucket, item.Key, ct);
                deleted++;
            }
        }

        return deleted;
    }

    /// <summary>A short-lived GET link to one file of the served revision.</summary>
    public string Presign(VideoRow video, string file) =>
        s3.GetPreSignedURL(new GetPreSignedUrlRequest
        {
            BucketName = Extensions.VideosBucket,
            Key = video.ObjectKey(file),
            Verb = HttpVerb.GET,
            Expires = time.GetUtcNow().Add(options.Value.LinkLifetime).UtcDateTime,
            Protocol = storage.Endpoint.Scheme == Uri.UriSchemeHttp ? Protocol.HTTP : Protocol.HTTPS,
        });
}
