using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.Messaging.Webhooks;

namespace Sunaiva.Media.Videos;

/// <summary>HeyGen (section <c>HeyGen</c>): off until an API key and a template are configured.</summary>
public sealed class HeyGenOptions
{
    public const string SectionName = "HeyGen";

    public string? ApiKey { get; set; }

    /// <summary>The template whose variables (name, headline, script, goals) are filled per video.</summary>
    public string? TemplateId { get; set; }

    /// <summary>The webhook endpoint's secret: deliveries to /webhooks/heygen are verified with it.</summary>
    public string? WebhookSecret { get; set; }

    [System.ComponentModel.DataAnnotations.Required(ErrorMessage = "HeyGen:BaseUrl is not configured.")]
    public Uri BaseUrl { get; set; } = new("https://api.heygen.com/");

    public bool IsConfigured => !string.IsNullOrEmpty(ApiKey) && !string.IsNullOrEmpty(TemplateId);
}

/// <summary>A HeyGen video's state as <c>GET /v1/video_status.get</c> reports it.</summary>
public sealed record HeyGenStatus(string Status, string? VideoUrl, string? ThumbnailUrl, double? Duration, string? Error)
{
    public bool Completed => Status == "completed";

    public bool Failed => Status == "failed";
}

/// <summary>
/// HeyGen's REST API: create a video from a template with variables (<c>POST /v2/template/{id}/generate</c>, our video id
/// as <c>callback_id</c>), read its status (<c>GET /v1/video_status.get</c>) and download the result.
/// </summary>
public sealed class HeyGenClient(HttpClient http, IOptions<HeyGenOptions> options)
{
    public const string HttpClientName = "heygen";

    public bool IsConfigured => options.Value.IsConfigured;

    public async Task<string> GenerateAsync(RenderJob job, CancellationToken ct)
    {
        var script = string.Join(' ', job.Script.Sentences);
        var body = new
        {
            title = $"sunaiva-{job.Video.Id}",
            callback_id = job.Video.Id,
            caption = true,
            dimension = new { width = 1280, height = 720 },
            variables = new Dictionary<string, object>
            {
                ["name"] = TextVariable("name", job.Profile.Name ?? "there"),
                ["headline"] = TextVariable("headline", job.Script.Title),
                ["script"] = TextVariable("script", script),
                ["goals"] = TextVariable("goals", string.Join(", ", job.Profile.Goals)),
            },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, $"v2/template/{Uri.EscapeDataString(options.Value.TemplateId!)}/generate") { Content = JsonContent.Create(body) };
        using var response = await SendAsync(request, ct);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        return json.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object && data.TryGetProperty("video_id", out var id) && id.GetString() is { Length: > 0 } videoId
            ? videoId
            : throw new InvalidOperationException("HeyGen answered without a video_id");
    }

    public async Task<HeyGenStatus> StatusAsync(string videoId, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"v1/video_status.get?video_id={Uri.EscapeDataString(videoId)}");
        using var response = await SendAsync(request, ct);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        var data = json.GetProperty("data");
        string? Text(string name) => data.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var error = data.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object && e.TryGetProperty("message", out var m) ? m.GetString() : null;
        return new HeyGenStatus(Text("status") ?? "unknown", Text("video_url"), Text("thumbnail_url"),
            data.TryGetProperty("duration", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetDouble() : null, error);
    }

    /// <summary>Downloads a file HeyGen links to (its URLs are presigned: no API key is sent).</summary>
    public async Task DownloadAsync(string url, string path, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(url));
        request.Options.Set(NoApiKey, true);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        await using var file = File.Create(path);
        await response.Content.CopyToAsync(file, ct);
    }

    internal static readonly HttpRequestOptionsKey<bool> NoApiKey = new("sunaiva.heygen.no-api-key");

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        request.Headers.Add("X-Api-Key", options.Value.ApiKey);
        var response = await http.SendAsync(request, ct);
        if ((int)response.StatusCode is 400 or 401 or 403 or 404 or 422)
        {
            response.Dispose();
            throw new PermanentFailureException("heygen", $"http {(int)response.StatusCode}");
        }

        response.EnsureSuccessStatusCode();
        return response;
    }

    private static object TextVariable(string name, string content) => new { name, type = "text", properties = new { content } };
}

/// <summary>
/// The <c>video-render</c> chain's first adapter when configured: starts a HeyGen job; completion comes by webhook or polling.
/// The submission is recorded before the call (<see cref="VideoStore.MarkProviderSubmittedAsync"/>) and cleared only when
/// HeyGen answers that it made nothing: a call whose answer never came may have started a job, which HeyGen's webhook
/// names by our video id (<c>callback_id</c>), so the video is never sent twice (HeyGen takes no idempotency key).
/// </summary>
public sealed class HeyGenVideoAdapter(HeyGenClient client, VideoStore store) : IVideoRenderAdapter
{
    public string Provider => "heygen";

    public bool IsAvailable => client.IsConfigured;

    public async Task<RenderStart> StartAsync(RenderJob job, ProviderCallContext call, CancellationToken cancellationToken)
    {
        await store.MarkProviderSubmittedAsync(job.Video.Id, cancellationToken);
        try
        {
            var id = await client.GenerateAsync(job, cancellationToken);
            call.Units = 0;   // billed in video seconds when the file arrives
            return new RenderStart(null, id);
        }
        catch (PermanentFailureException ex)
        {
            // HeyGen refusing our template or key is HeyGen's problem, not the video's: the local renderer still serves.
            await store.ClearProviderSubmittedAsync(job.Video.Id);
            throw new HttpRequestException($"HeyGen refused the render ({ex.Message})", ex);
        }
        catch (HttpRequestException ex) when (ex.StatusCode is not null)
        {
            // HeyGen answered with an error status: it made no video.
            await store.ClearProviderSubmittedAsync(job.Video.Id);
            throw;
        }
    }
}

/// <summary>
/// HeyGen's webhook deliveries at <c>POST /webhooks/heygen</c>: the body's HMAC-SHA256 (hex, key = the endpoint secret)
/// in the <c>signature</c> header. Body: <c>{ "event_type": "avatar_video.success", "event_data": { "video_id", "url", "callback_id" } }</c>.
/// Deliveries of one video share its work partition, so they never race its render or polling.
/// </summary>
public sealed class HeyGenWebhookProvider(IOptions<HeyGenOptions> options) : IWebhookProvider
{
    public string Name => "heygen";

    public bool IsConfigured => !string.IsNullOrEmpty(options.Value.WebhookSecret);

    public WebhookVerification Verify(HttpRequest request, string body)
    {
        var signature = request.Headers["signature"].ToString();
        if (signature.Length == 0)
        {
            return WebhookVerification.Reject("no signature header");
        }

        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(options.Value.WebhookSecret!), Encoding.UTF8.GetBytes(body)));
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature.ToLowerInvariant())))
        {
            return WebhookVerification.Reject("signature mismatch");
        }

        HeyGenEvent? evt;
        try
        {
            evt = JsonSerializer.Deserialize<HeyGenEvent>(body);
        }
        catch (JsonException)
        {
            return WebhookVerification.Reject("unreadable body");
        }

        if (evt?.EventType is not { Length: > 0 } type || evt.EventData?.VideoId is not { Length: > 0 } videoId)
        {
            return WebhookVerification.Reject("no event_type or video_id");
        }

        var callback = evt.EventData.CallbackId;
        return WebhookVerification.Accept(new WebhookDelivery($"{type}:{videoId}", type, videoId, null, null, null,
            callback is { Length: > 0 } ? $"video:{callback}" : $"heygen:{videoId}", body));
    }
}

/// <summary>A HeyGen webhook body.</summary>
public sealed record HeyGenEvent(
    [property: JsonPropertyName("event_type")] string? EventType,
    [property: JsonPropertyName("event_data")] HeyGenEventData? EventData);

public sealed record HeyGenEventData(
    [property: JsonPropertyName("video_id")] string? VideoId,
    [property: JsonPropertyName("url")] string? Url,
    [property: JsonPropertyName("callback_id")] string? CallbackId,
    [property: JsonPropertyName("msg")] string? Message);
