using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Google.Apis.Auth.OAuth2.Requests;
using Google.Apis.Auth.OAuth2.Responses;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;

namespace Sunaiva.Media.Drive;

/// <summary>The <c>drive</c> capability's adapter contract: Google's OAuth endpoints and the Drive v3 calls we need.</summary>
public interface IDriveProvider : IProviderAdapter
{
    Task<TokenResponse> ExchangeCodeAsync(string code, string codeVerifier, string redirectUri, CancellationToken ct);

    Task<TokenResponse> RefreshAsync(string refreshToken, CancellationToken ct);

    Task RevokeAsync(string token, CancellationToken ct);

    Task<DriveFile> GetFileAsync(string accessToken, string fileId, CancellationToken ct);

    /// <summary>The file's bytes (<c>alt=media</c>) or its export (<paramref name="exportMimeType"/>); headers read, body streaming.</summary>
    Task<HttpResponseMessage> OpenContentAsync(string accessToken, string fileId, string? exportMimeType, CancellationToken ct);

    Task<string> GetStartPageTokenAsync(string accessToken, CancellationToken ct);

    Task<DriveChangePage> ListChangesAsync(string accessToken, string pageToken, CancellationToken ct);

    Task<DriveChannel> WatchChangesAsync(string accessToken, string pageToken, string channelId, string channelToken, string address, DateTimeOffset expiration, CancellationToken ct);

    Task<string?> GetEmailAsync(string accessToken, CancellationToken ct);
}

/// <summary>
/// Google Drive v3 over a typed HttpClient (Google.Apis.Drive.v3 is not served here) and Google's OAuth 2.0 endpoints through
/// Google.Apis.Auth's request/response types. Answers that say nothing about Google's health (401, 404, rate limits, refused
/// grants) are <see cref="PermanentFailureException"/>s carrying the Drive exception, so the breaker never counts them and a
/// per-user rate limit never throttles other users; 5xx and timeouts count against the provider as usual.
/// </summary>
public sealed class GoogleDriveClient(HttpClient http, IOptions<DriveOptions> options, TimeProvider time) : IDriveProvider
{
    public const string ProviderName = "google-drive";
    public const string HttpClientName = "google-drive";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly GoogleClock _clock = new(time);

    public string Provider => ProviderName;

    public bool IsAvailable => options.Value.IsConfigured;

    private DriveOptions Settings => options.Value;

    public Task<TokenResponse> ExchangeCodeAsync(string code, string codeVerifier, string redirectUri, CancellationToken ct) =>
        TokenAsync(new AuthorizationCodeTokenRequest
        {
            Code = code,
            CodeVerifier = codeVerifier,
            RedirectUri = redirectUri,
            ClientId = Settings.ClientId,
            ClientSecret = Settings.ClientSecret,
        }, ct);

    public Task<TokenResponse> RefreshAsync(string refreshToken, CancellationToken ct) =>
        TokenAsync(new RefreshTokenRequest { RefreshToken = refreshToken, ClientId = Settings.ClientId, ClientSecret = Settings.ClientSecret }, ct);

    // Google's RevokeTokenRequest uses a GET with the token in the query; Google documents a POST with a form body
    // (https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke), which keeps the token out of URLs and logs.
    public async Task RevokeAsync(string token, CancellationToken ct)
    {
        using var response = await http.PostAsync(Settings.RevokeEndpoint, new FormUrlEncodedContent([new("token", token)]), ct);
        if (response.StatusCode == HttpStatusCode.BadRequest)
        {
            // invalid_token: already revoked or expired; the grant is gone either way.
            return;
        }

        await EnsureSuccessAsync(response, ct);
    }

    public async Task<DriveFile> GetFileAsync(string accessToken, string fileId, CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Get, $"drive/v3/files/{Uri.EscapeDataString(fileId)}?fields={DriveFile.Fields}&supportsAllDrives=true", accessToken, null, HttpCompletionOption.ResponseContentRead, ct);
        return (await response.Content.ReadFromJsonAsync<DriveFile>(Json, ct))!;
    }

    public Task<HttpResponseMessage> OpenContentAsync(string accessToken, string fileId, string? exportMimeType, CancellationToken ct)
    {
        var id = Uri.EscapeDataString(fileId);
        var path = exportMimeType is null
            ? $"drive/v3/files/{id}?alt=media&supportsAllDrives=true"
            : $"drive/v3/files/{id}/export?mimeType={Uri.EscapeDataString(exportMimeType)}";
        return SendAsync(HttpMethod.Get, path, accessToken, null, HttpCompletionOption.ResponseHeadersRead, ct);
    }

    public async Task<string> GetStartPageTokenAsync(string accessToken, CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Get, "drive/v3/changes/startPageToken?supportsAllDrives=true", accessToken, null, HttpCompletionOption.ResponseContentRead, ct);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Json, ct);
        return body.GetProperty("startPageToken").GetString()!;
    }

    public async Task<DriveChangePage> ListChangesAsync(string accessToken, string pageToken, CancellationToken ct)
    {
        var fields = $"nextPageToken,newStartPageToken,changes(fileId,removed,changeType,file({DriveFile.Fields}))";
        using var response = await SendAsync(HttpMethod.Get,
            $"drive/v3/changes?pageToken={Uri.EscapeDataString(pageToken)}&pageSize=100&includeRemoved=true&spaces=drive&supportsAllDrives=true&includeItemsFromAllDrives=true&fields={Uri.EscapeDataString(fields)}",
            accessToken, null, HttpCompletionOption.ResponseContentRead, ct);
        return (await response.Content.ReadFromJsonAsync<DriveChangePage>(Json, ct))!;
    }

    public async Task<DriveChannel> WatchChangesAsync(string accessToken, string pageToken, string channelId, string channelToken, string address, DateTimeOffset expiration, CancellationToken ct)
    {
        var body = JsonContent.Create(new
        {
            id = channelId,
            type = "web_hook",
            address,
            token = channelToken,
            expiration = expiration.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        using var response = await SendAsync(HttpMethod.Post, $"drive/v3/changes/watch?pageToken={Uri.EscapeDataString(pageToken)}&supportsAllDrives=true", accessToken, body, HttpCompletionOption.ResponseContentRead, ct);
        return (await response.Content.ReadFromJsonAsync<DriveChannel>(Json, ct))!;
    }

    public async Task<string?> GetEmailAsync(string accessToken, CancellationToken ct)
    {
        using var response = await SendAsync(HttpMethod.Get, "drive/v3/about?fields=user(emailAddress)", accessToken, null, HttpCompletionOption.ResponseContentRead, ct);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Json, ct);
        return body.TryGetProperty("user", out var user) && user.TryGetProperty("emailAddress", out var email) ? email.GetString() : null;
    }

    private async Task<TokenResponse> TokenAsync(TokenRequest request, CancellationToken ct)
    {
        try
        {
            return await request.ExecuteAsync(http, Settings.TokenEndpoint, ct, _clock);
        }
        catch (TokenResponseException ex) when (ex.StatusCode is HttpStatusCode.TooManyRequests)
        {
            throw Refused("HTTP 429", new DriveRateLimitedException(null, "token endpoint 429"));
        }
        catch (TokenResponseException ex) when (ex.StatusCode is { } status && (int)status is >= 400 and < 500)
        {
            // invalid_grant (code used, verifier wrong, refresh token revoked), invalid_client, ...: this input, not Google's health.
            var error = ex.Error?.Error ?? "invalid_request";
            throw Refused($"oauth {error}", error == "invalid_grant" ? new DriveReconsentRequiredException() : null);
        }
        catch (TokenResponseException ex)
        {
            throw new HttpRequestException($"token endpoint answered {(int?)ex.StatusCode}", null, ex.StatusCode);
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string accessToken, HttpContent? content, HttpCompletionOption completion, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, new Uri(new Uri(Settings.ApiBaseUrl), path)) { Content = content };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", accessToken);
        var response = await http.SendAsync(request, completion, ct);
        try
        {
            await EnsureSuccessAsync(response, ct);
            return response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>Maps Drive's documented errors (https://developers.google.com/workspace/drive/api/guides/handle-errors).</summary>
    private async Task EnsureSuccessAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var status = (int)response.StatusCode;
        var reason = status is 403 or 429 or 400 ? await ReasonAsync(response, ct) : null;
        var retryAfter = response.Headers.RetryAfter is { } ra
            ? ra.Delta ?? (ra.Date is { } date ? date - time.GetUtcNow() : null)
            : null;
        throw status switch
        {
            401 => Refused("HTTP 401", new DriveUnauthorizedException()),
            429 => Refused("HTTP 429", new DriveRateLimitedException(retryAfter, reason ?? "rateLimitExceeded")),
            403 when reason is "userRateLimitExceeded" or "rateLimitExceeded" => Refused($"HTTP 403 {reason}", new DriveRateLimitedException(retryAfter, reason)),
            404 => Refused("HTTP 404", new DriveFileNotFoundException()),
            >= 400 and < 500 => Refused($"HTTP {status} {reason}".TrimEnd(), null),
            _ => new HttpRequestException($"Drive answered HTTP {status}", null, response.StatusCode),
        };
    }

    private static async Task<string?> ReasonAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(Json, ct);
            return body.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
                   && error.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0
                   && errors[0].TryGetProperty("reason", out var r)
                ? r.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static PermanentFailureException Refused(string reason, Exception? inner) => new(ProviderName, reason, inner);

    /// <summary>Google.Apis' clock over the injected <see cref="TimeProvider"/>, so token expiry follows fake time in tests.</summary>
    private sealed class GoogleClock(TimeProvider time) : Google.Apis.Util.IClock
    {
        public DateTime Now => time.GetLocalNow().DateTime;

        public DateTime UtcNow => time.GetUtcNow().UtcDateTime;
    }
}
