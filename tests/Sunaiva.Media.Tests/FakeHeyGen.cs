using System.Net;
using System.Text;
using System.Text.Json;

namespace Sunaiva.Media.Tests;

/// <summary>
/// HeyGen's API as documented (<c>POST /v2/template/{id}/generate</c> answering <c>{ "error": null, "data": { "video_id" } }</c>,
/// <c>GET /v1/video_status.get</c> answering <c>{ "code": 100, "data": { "status", "video_url", "thumbnail_url", "duration" } }</c>),
/// and its file host. <see cref="Outcome"/> says how its jobs end: completed, failed, or never (processing).
/// </summary>
public sealed class FakeHeyGen : HttpMessageHandler
{
    public static readonly byte[] VideoBytes = Encoding.ASCII.GetBytes("HEYGEN-MP4-BYTES");

    public string Outcome { get; set; } = "completed";

    public int Generated { get; private set; }

    public List<string> TemplateBodies { get; } = [];

    /// <summary>Every job made: the <c>callback_id</c> it was asked with (our video id) and the <c>video_id</c> it answered.</summary>
    private readonly List<(string CallbackId, string Job)> _jobs = [];

    /// <summary>The jobs made for one of our videos.</summary>
    public List<string> JobsFor(string callbackId)
    {
        lock (TemplateBodies)
        {
            return _jobs.Where(j => j.CallbackId == callbackId).Select(j => j.Job).ToList();
        }
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var path = request.RequestUri!.AbsolutePath;
        if (request.Method == HttpMethod.Post && path.StartsWith("/v2/template/", StringComparison.Ordinal) && path.EndsWith("/generate", StringComparison.Ordinal))
        {
            if (request.Headers.GetValues("X-Api-Key").Single() != "test-key")
            {
                return new HttpResponseMessage(HttpStatusCode.Unauthorized);
            }

            var body = await request.Content!.ReadAsStringAsync(cancellationToken);
            string job;
            lock (TemplateBodies)
            {
                TemplateBodies.Add(body);
                Generated++;
                job = $"hg_{Generated}_{Guid.NewGuid():N}";
                _jobs.Add((JsonDocument.Parse(body).RootElement.GetProperty("callback_id").GetString()!, job));
            }

            return Json(new { error = (object?)null, data = new { video_id = job } });
        }

        if (request.Method == HttpMethod.Get && path == "/v1/video_status.get")
        {
            var id = request.RequestUri.Query.Split("video_id=")[1];
            return Outcome switch
            {
                "completed" => Json(new { code = 100, data = new { id, status = "completed", video_url = $"https://files.heygen.test/{id}.mp4", thumbnail_url = (string?)null, duration = 42.0 } }),
                "failed" => Json(new { code = 100, data = new { id, status = "failed", error = new { code = 40119, message = "video failed" } } }),
                _ => Json(new { code = 100, data = new { id, status = "processing" } }),
            };
        }

        if (request.RequestUri.Host == "files.heygen.test")
        {
            return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(VideoBytes) };
        }

        return new HttpResponseMessage(HttpStatusCode.NotFound);
    }

    private static HttpResponseMessage Json(object body) =>
        new(HttpStatusCode.OK) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };
}
