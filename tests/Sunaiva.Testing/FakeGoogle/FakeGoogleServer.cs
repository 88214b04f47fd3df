using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Sunaiva.Testing.FakeGoogle;

/// <summary>
/// Google's OAuth 2.0 endpoints and the Drive v3 calls Sunaiva makes, in-process on Kestrel (a free loopback port), answering
/// with Google's documented bodies (<c>Samples/</c>, sources in <c>Samples/NOTICE.md</c>). It checks what Google checks:
/// client credentials, single-use codes bound to their redirect URI and PKCE challenge (S256), bearer tokens and their
/// expiry (on <see cref="Time"/>), revoked grants; and it lets tests inject Drive's rate-limit answers per account.
/// </summary>
public sealed class FakeGoogleServer : IAsyncDisposable
{
    public const string ClientId = "1234567890-fake.apps.googleusercontent.com";
    public const string ClientSecret = "fake-google-client-secret";
    public static readonly TimeSpan AccessTokenLifetime = TimeSpan.FromSeconds(3599);

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, IssuedCode> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Grant> _refreshTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AccessToken> _accessTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Account> _accounts = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<TokenCall> _tokenCalls = new();
    private readonly ConcurrentQueue<string> _revoked = new();
    private int _revokeOutages;
    private int _failedRevokes;
    private int _revokesToHold;
    private int _heldRevokes;
    private readonly TaskCompletionSource _releaseRevokes = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<DriveCall> _driveCalls = new();
    private readonly ConcurrentQueue<FakeChannel> _channels = new();
    private readonly ConcurrentQueue<string> _issuedSecrets = new();
    private readonly object _gate = new();

    private FakeGoogleServer(WebApplication app) => _app = app;

    /// <summary>Expiry of access tokens follows this clock (share the service's fake time).</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    public Uri BaseAddress { get; private set; } = null!;

    public string AuthorizationEndpoint => new Uri(BaseAddress, "o/oauth2/v2/auth").AbsoluteUri;

    public string TokenEndpoint => new Uri(BaseAddress, "token").AbsoluteUri;

    public string RevokeEndpoint => new Uri(BaseAddress, "revoke").AbsoluteUri;

    /// <summary>Drive's REST root (<c>drive/v3/...</c> below it), as <c>https://www.googleapis.com/</c>.</summary>
    public string ApiBaseUrl => BaseAddress.AbsoluteUri;

    /// <summary>Largest page <c>changes.list</c> answers (Drive's default is 100); small values exercise paging.</summary>
    public int ChangesPageSize { get; set; } = 100;

    public IReadOnlyList<TokenCall> TokenCalls => _tokenCalls.ToList();

    /// <summary>Every secret this server handed out: codes, access and refresh tokens (for "never logged" checks).</summary>
    public IReadOnlyList<string> IssuedSecrets => [.. _issuedSecrets];

    public IReadOnlyList<string> RevokedTokens => _revoked.ToList();

    /// <summary>While positive, each revoke request answers 503 (Google's backend unavailable) and counts down.</summary>
    public int RevokeOutages { get => _revokeOutages; set => _revokeOutages = value; }

    /// <summary>Revoke requests that met an outage.</summary>
    public int FailedRevokes => _failedRevokes;

    /// <summary>The next revoke request is held unanswered (a request on its way) until <see cref="ReleaseRevokes"/>; later ones pass.</summary>
    public void HoldNextRevoke() => Interlocked.Exchange(ref _revokesToHold, 1);

    /// <summary>Revoke requests held so far.</summary>
    public int HeldRevokes => _heldRevokes;

    /// <summary>Lets held revoke requests go on: Google processes them now.</summary>
    public void ReleaseRevokes() => _releaseRevokes.TrySetResult();

    public IReadOnlyList<DriveCall> DriveCalls => _driveCalls.ToList();

    public IReadOnlyList<FakeChannel> Channels => _channels.ToList();

    /// <summary>The settings that point a service's Drive feature at this server.</summary>
    public IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Drive:ClientId"] = ClientId,
        ["Drive:ClientSecret"] = ClientSecret,
        ["Drive:AuthorizationEndpoint"] = AuthorizationEndpoint,
        ["Drive:TokenEndpoint"] = TokenEndpoint,
        ["Drive:RevokeEndpoint"] = RevokeEndpoint,
        ["Drive:ApiBaseUrl"] = ApiBaseUrl,
    };

    public static async Task<FakeGoogleServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new FakeGoogleServer(app);
        server.Map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseAddress = new Uri(address.TrimEnd('/') + "/");
        return server;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    /// <summary>
    /// The user consents on Google's page: checks the authorization request as Google does and answers the redirect
    /// (<c>redirect_uri?code=...&amp;state=...</c>) the browser would follow.
    /// </summary>
    public Uri Consent(string authorizationUrl, string account)
    {
        var query = QueryHelpers.ParseQuery(new Uri(authorizationUrl).Query);
        string Get(string name) => query.TryGetValue(name, out var v) ? v.ToString() : throw new InvalidOperationException($"The authorization URL has no {name}.");
        if (Get("client_id") != ClientId || Get("response_type") != "code" || Get("code_challenge_method") != "S256" || Get("code_challenge").Length != 43)
        {
            throw new InvalidOperationException("Google would refuse this authorization request (client_id, response_type=code, S256 code_challenge).");
        }

        var code = "4/" + Token(24);
        _issuedSecrets.Enqueue(code);
        _codes[code] = new IssuedCode(account, Get("redirect_uri"), Get("code_challenge"), Get("scope"));
        return new Uri(QueryHelpers.AddQueryString(Get("redirect_uri"), new Dictionary<string, string?> { ["code"] = code, ["state"] = Get("state") }));
    }

    public FakeDriveFile AddFile(string account, string name, string mimeType, byte[] content, string? id = null)
    {
        lock (_gate)
        {
            var file = new FakeDriveFile(id ?? Token(20).Replace("-", "x", StringComparison.Ordinal), name, mimeType, content);
            AccountOf(account).Files[file.Id] = file;
            AccountOf(account).Changes.Add(new ChangeEntry(file.Id, Removed: false));
            return file;
        }
    }

    /// <summary>A new version of the file's content, and its entry in the changes feed.</summary>
    public void EditFile(string account, string id, byte[] content)
    {
        lock (_gate)
        {
            var file = AccountOf(account).Files[id];
            file.Content = content;
            file.Version++;
            AccountOf(account).Changes.Add(new ChangeEntry(id, Removed: false));
        }
    }

    public void TrashFile(string account, string id)
    {
        lock (_gate)
        {
            AccountOf(account).Files[id].Trashed = true;
            AccountOf(account).Changes.Add(new ChangeEntry(id, Removed: false));
        }
    }

    public void DeleteFile(string account, string id)
    {
        lock (_gate)
        {
            AccountOf(account).Files.Remove(id);
            AccountOf(account).Changes.Add(new ChangeEntry(id, Removed: true));
        }
    }

    /// <summary>The next <paramref name="times"/> Drive calls of <paramref name="account"/> answer this documented error.</summary>
    public void FailNext(string account, int status, string sample, TimeSpan? retryAfter = null, int times = 1)
    {
        for (var i = 0; i < times; i++)
        {
            AccountOf(account).Faults.Enqueue(new Fault(status, sample, retryAfter));
        }
    }

    /// <summary>Google stops accepting the account's current access tokens before they expire (a 401 follows).</summary>
    public void InvalidateAccessTokens(string account)
    {
        foreach (var (token, issued) in _accessTokens)
        {
            if (issued.Account == account)
            {
                _accessTokens.TryRemove(token, out _);
            }
        }
    }

    /// <summary>The user removes the app in their Google account: refresh tokens answer invalid_grant.</summary>
    public void RevokeGrant(string account)
    {
        foreach (var grant in _refreshTokens.Values.Where(g => g.Account == account))
        {
            grant.Revoked = true;
        }

        InvalidateAccessTokens(account);
    }

    public bool HasLiveGrant(string account) => _refreshTokens.Values.Any(g => g.Account == account && !g.Revoked);

    public static string Sample(string name)
    {
        using var stream = typeof(FakeGoogleServer).Assembly.GetManifestResourceStream($"google/{name}")
            ?? throw new InvalidOperationException($"No Google sample named {name}.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static JsonObject SampleObject(string name) => JsonNode.Parse(Sample(name))!.AsObject();

    private Account AccountOf(string account) => _accounts.GetOrAdd(account, a => new Account(a));

    private void Map(WebApplication app)
    {
        app.MapPost("/token", (Delegate)TokenAsync);
        app.MapPost("/revoke", (Delegate)RevokeAsync);
        app.MapGet("/drive/v3/about", (HttpContext http) => Drive(http, "about", account =>
        {
            var about = SampleObject("about.json");
            about["user"]!["emailAddress"] = account;
            return Results.Text(about.ToJsonString(), "application/json");
        }));
        app.MapGet("/drive/v3/files/{id}", (HttpContext http, string id) => Drive(http, http.Request.Query["alt"] == "media" ? $"files.download {id}" : $"files.get {id}", account =>
        {
            lock (_gate)
            {
                if (!AccountOf(account).Files.TryGetValue(id, out var file))
                {
                    return Error(404, "error-404-not-found.json", id);
                }

                if (http.Request.Query["alt"] == "media")
                {
                    return DriveExportsNative(file) ? Results.Bytes(file.Content, file.MimeType) : Error(403, "error-403-user-rate-limit.json", reason: "fileNotDownloadable");
                }

                return Results.Text(FileJson(file).ToJsonString(), "application/json");
            }
        }));
        app.MapGet("/drive/v3/files/{id}/export", (HttpContext http, string id) => Drive(http, $"files.export {id}", account =>
        {
            lock (_gate)
            {
                if (!AccountOf(account).Files.TryGetValue(id, out var file))
                {
                    return Error(404, "error-404-not-found.json", id);
                }

                var mimeType = http.Request.Query["mimeType"].ToString();
                return DriveExportsNative(file) || mimeType is not ("text/plain" or "text/csv")
                    ? Results.Text("""{"error":{"code":400,"message":"Export only supports Docs Editors files.","errors":[{"domain":"global","reason":"badRequest"}]}}""", "application/json", statusCode: 400)
                    : Results.Bytes(file.Content, mimeType);
            }
        }));
        app.MapGet("/drive/v3/changes/startPageToken", (HttpContext http) => Drive(http, "changes.startPageToken", account =>
        {
            var body = SampleObject("start-page-token.json");
            lock (_gate)
            {
                body["startPageToken"] = (AccountOf(account).Changes.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            return Results.Text(body.ToJsonString(), "application/json");
        }));
        app.MapGet("/drive/v3/changes", (HttpContext http) => Drive(http, "changes.list", account => ChangesPage(account, http.Request.Query["pageToken"].ToString())));
        app.MapPost("/drive/v3/changes/watch", async (HttpContext http) =>
        {
            var request = (await JsonNode.ParseAsync(http.Request.Body))!.AsObject();
            return Drive(http, "changes.watch", account =>
            {
                var channel = SampleObject("channel.json");
                var id = request["id"]!.GetValue<string>();
                channel["id"] = id;
                channel["resourceId"] = "res-" + Token(8);
                channel["token"] = request["token"]?.GetValue<string>();
                channel["expiration"] = request["expiration"]?.GetValue<string>();
                _channels.Enqueue(new FakeChannel(account, id, channel["resourceId"]!.GetValue<string>(), request["token"]?.GetValue<string>() ?? string.Empty, request["address"]!.GetValue<string>()));
                return Results.Text(channel.ToJsonString(), "application/json");
            });
        });
    }

    private static bool DriveExportsNative(FakeDriveFile file) => !file.MimeType.StartsWith("application/vnd.google-apps.", StringComparison.Ordinal);

    private IResult ChangesPage(string account, string pageToken)
    {
        lock (_gate)
        {
            var changes = AccountOf(account).Changes;
            if (!int.TryParse(pageToken, out var from) || from < 1 || from > changes.Count + 1)
            {
                return Results.Text("""{"error":{"code":400,"message":"Invalid Value","errors":[{"domain":"global","reason":"invalid","message":"Invalid Value","locationType":"parameter","location":"pageToken"}]}}""", "application/json", statusCode: 400);
            }

            var page = SampleObject("change-list.json");
            var entries = new JsonArray();
            var end = Math.Min(changes.Count, from - 1 + ChangesPageSize);
            var template = page["changes"]![0]!.AsObject();
            for (var i = from - 1; i < end; i++)
            {
                var entry = template.DeepClone().AsObject();
                var change = changes[i];
                entry["fileId"] = change.FileId;
                entry["removed"] = change.Removed;
                entry["time"] = Time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
                if (!change.Removed && AccountOf(account).Files.TryGetValue(change.FileId, out var file))
                {
                    entry["file"] = FileJson(file);
                }
                else
                {
                    entry.Remove("file");
                }

                entries.Add(entry);
            }

            page["changes"] = entries;
            page.Remove("nextPageToken");
            page.Remove("newStartPageToken");
            var next = (end + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            page[end < changes.Count ? "nextPageToken" : "newStartPageToken"] = next;
            return Results.Text(page.ToJsonString(), "application/json");
        }
    }

    private static JsonObject FileJson(FakeDriveFile file)
    {
        var json = SampleObject("file.json");
        json["id"] = file.Id;
        json["name"] = file.Name;
        json["mimeType"] = file.MimeType;
        json["version"] = file.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        json["trashed"] = file.Trashed;
        if (DriveExportsNative(file))
        {
#pragma warning disable CA5351 // Drive's md5Checksum is MD5 by definition; a checksum here, not security.
            json["md5Checksum"] = Convert.ToHexStringLower(MD5.HashData(file.Content));
#pragma warning restore CA5351
            json["size"] = file.Content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return json;
    }

    private IResult Drive(HttpContext http, string call, Func<string, IResult> answer)
    {
        var header = http.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..] : string.Empty;
        if (!_accessTokens.TryGetValue(token, out var issued) || issued.ExpiresAt <= Time.GetUtcNow())
        {
            _driveCalls.Enqueue(new DriveCall(issued?.Account, call, 401));
            return Error(401, "error-401-auth.json");
        }

        if (AccountOf(issued.Account).Faults.TryDequeue(out var fault))
        {
            _driveCalls.Enqueue(new DriveCall(issued.Account, call, fault.Status));
            if (fault.RetryAfter is { } after)
            {
                http.Response.Headers.RetryAfter = ((int)Math.Ceiling(after.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            return Error(fault.Status, fault.Sample);
        }

        var result = answer(issued.Account);
        _driveCalls.Enqueue(new DriveCall(issued.Account, call, result is IStatusCodeHttpResult { StatusCode: { } s } ? s : 200));
        return result;
    }

    private static IResult Error(int status, string sample, string? fileId = null, string? reason = null)
    {
        var body = Sample(sample).Replace("{fileId}", fileId ?? string.Empty, StringComparison.Ordinal);
        if (reason is not null)
        {
            var json = JsonNode.Parse(body)!;
            json["error"]!["errors"]![0]!["reason"] = reason;
            body = json.ToJsonString();
        }

        return Results.Text(body, "application/json", statusCode: status);
    }

    private async Task<IResult> TokenAsync(HttpContext http)
    {
        var form = await http.Request.ReadFormAsync();
        var grantType = form["grant_type"].ToString();
        if (form["client_id"] != ClientId || form["client_secret"] != ClientSecret)
        {
            _tokenCalls.Enqueue(new TokenCall(grantType, null, false));
            return Results.Text("""{"error":"invalid_client","error_description":"The OAuth client was not found."}""", "application/json", statusCode: 401);
        }

        if (grantType == "authorization_code")
        {
            var code = form["code"].ToString();
            var verifier = form["code_verifier"].ToString();
            // A code works once, for its redirect URI, with the verifier whose S256 hash is the challenge.
            if (!_codes.TryRemove(code, out var issued) || issued.RedirectUri != form["redirect_uri"])
            {
                _tokenCalls.Enqueue(new TokenCall(grantType, issued?.Account, false));
                return InvalidGrant();
            }

            var matched = WebEncoders.Base64UrlEncode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))) == issued.Challenge;
            _tokenCalls.Enqueue(new TokenCall(grantType, issued.Account, matched));
            if (!matched)
            {
                return InvalidGrant();
            }

            var refresh = "1//" + Token(32);
            _refreshTokens[refresh] = new Grant(issued.Account, issued.Scope);
            _issuedSecrets.Enqueue(refresh);
            var body = SampleObject("token-response.json");
            body["access_token"] = IssueAccessToken(issued.Account);
            body["expires_in"] = (int)AccessTokenLifetime.TotalSeconds;
            body["scope"] = issued.Scope;
            body["refresh_token"] = refresh;
            return Results.Text(body.ToJsonString(), "application/json");
        }

        if (grantType == "refresh_token")
        {
            if (!_refreshTokens.TryGetValue(form["refresh_token"].ToString(), out var grant) || grant.Revoked)
            {
                _tokenCalls.Enqueue(new TokenCall(grantType, grant?.Account, false));
                return InvalidGrant();
            }

            _tokenCalls.Enqueue(new TokenCall(grantType, grant.Account, true));
            var body = SampleObject("refresh-response.json");
            body["access_token"] = IssueAccessToken(grant.Account);
            body["expires_in"] = (int)AccessTokenLifetime.TotalSeconds;
            body["scope"] = grant.Scope;
            return Results.Text(body.ToJsonString(), "application/json");
        }

        return Results.Text("""{"error":"unsupported_grant_type","error_description":"Invalid grant_type"}""", "application/json", statusCode: 400);
    }

    private async Task<IResult> RevokeAsync(HttpContext http)
    {
        var token = (await http.Request.ReadFormAsync())["token"].ToString();
        if (Interlocked.Exchange(ref _revokesToHold, 0) == 1)
        {
            Interlocked.Increment(ref _heldRevokes);
            await _releaseRevokes.Task;
        }

        if (Interlocked.Decrement(ref _revokeOutages) >= 0)
        {
            Interlocked.Increment(ref _failedRevokes);
            return Results.Text("""{"error":"temporarily_unavailable","error_description":"The service is currently unavailable."}""", "application/json", statusCode: 503);
        }

        Interlocked.Exchange(ref _revokeOutages, 0);
        var known = _refreshTokens.TryGetValue(token, out var grant);
        if (known)
        {
            RevokeGrant(grant!.Account);
        }
        else
        {
            known = _accessTokens.TryRemove(token, out _);
        }

        // Recorded once the grant is gone: a test that sees the revoke also sees its effect.
        _revoked.Enqueue(token);
        return known ? Results.Ok() : Results.Text(Sample("revoke-error.json"), "application/json", statusCode: 400);
    }

    private string IssueAccessToken(string account)
    {
        var token = "ya29." + Token(32);
        _issuedSecrets.Enqueue(token);
        _accessTokens[token] = new AccessToken(account, Time.GetUtcNow() + AccessTokenLifetime);
        return token;
    }

    private static IResult InvalidGrant() => Results.Text(Sample("token-error-invalid-grant.json"), "application/json", statusCode: 400);

    private static string Token(int bytes) => WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(bytes));

    private sealed record IssuedCode(string Account, string RedirectUri, string Challenge, string Scope);

    private sealed class Grant(string account, string scope)
    {
        public string Account { get; } = account;

        public string Scope { get; } = scope;

        public bool Revoked { get; set; }
    }

    private sealed record AccessToken(string Account, DateTimeOffset ExpiresAt);

    private sealed record Fault(int Status, string Sample, TimeSpan? RetryAfter);

    private sealed record ChangeEntry(string FileId, bool Removed);

    private sealed class Account(string name)
    {
        public string Name { get; } = name;

        public Dictionary<string, FakeDriveFile> Files { get; } = new(StringComparer.Ordinal);

        public List<ChangeEntry> Changes { get; } = [];

        public ConcurrentQueue<Fault> Faults { get; } = new();
    }
}

/// <summary>A file in the fake Drive.</summary>
public sealed class FakeDriveFile(string id, string name, string mimeType, byte[] content)
{
    public string Id { get; } = id;

    public string Name { get; } = name;

    public string MimeType { get; } = mimeType;

    public byte[] Content { get; set; } = content;

    public long Version { get; set; } = 1;

    public bool Trashed { get; set; }
}

/// <summary>A call to the token endpoint: its grant type, whose, and whether it was honoured (PKCE verifier matched, grant live).</summary>
public sealed record TokenCall(string GrantType, string? Account, bool Honoured);

/// <summary>A Drive call: whose, which, and the status answered.</summary>
public sealed record DriveCall(string? Account, string Call, int Status);

/// <summary>A channel opened with changes.watch: what Google would echo in its notifications.</summary>
public sealed record FakeChannel(string Account, string Id, string ResourceId, string Token, string Address);
