using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.WebUtilities;
using Sunaiva.Testing;
using Sunaiva.Testing.FakeGoogle;

namespace Sunaiva.Media.Tests.Drive;

[Collection(ServersCollection.Name)]
public sealed class DriveTests(MediaServers servers) : IAsyncLifetime
{
    private readonly string _ada = "ada-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _bob = "bob-" + Guid.NewGuid().ToString("N")[..8];
    private FakeGoogleServer _google = null!;
    private DriveApp _app = null!;

    private string AdaAccount => _ada + "@gmail.example";

    private string BobAccount => _bob + "@gmail.example";

    public async Task InitializeAsync()
    {
        _google = await FakeGoogleServer.StartAsync();
        _app = new DriveApp(servers.Servers, _google);
        _google.Time = _app.Time;
        await _app.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        await _google.DisposeAsync();
    }

    [Fact]
    public async Task Connect_flow_with_PKCE_stores_the_grant_encrypted_and_shows_scopes_and_email()
    {
        using var ada = _app.ClientFor(_ada);
        var start = await (await ada.PostAsync("/drive/connect", null)).Content.ReadFromJsonAsync<JsonElement>();
        var url = new Uri(start.GetProperty("authorizationUrl").GetString()!);
        var query = QueryHelpers.ParseQuery(url.Query);

        var callback = _google.Consent(url.AbsoluteUri, AdaAccount);
        using var browser = _app.CreateClient();
        var answer = await browser.GetAsync(callback.PathAndQuery);
        await _app.UntilAsync(async () => await _app.ScalarAsync<string>("SELECT email FROM drive_connections WHERE user_id = @u", ("u", _ada)) is not null, "email stored");
        var connection = await ada.GetFromJsonAsync<JsonElement>("/drive/connection");

        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.StartsWith(_google.AuthorizationEndpoint, url.AbsoluteUri, StringComparison.Ordinal);
        Assert.Equal("https://www.googleapis.com/auth/drive.file", query["scope"].ToString());
        Assert.Equal("S256", query["code_challenge_method"].ToString());
        Assert.Equal("true", query["include_granted_scopes"].ToString());
        Assert.Equal("offline", query["access_type"].ToString());
        var exchange = Assert.Single(_google.TokenCalls, c => c.GrantType == "authorization_code");
        Assert.True(exchange.Honoured, "the fake token endpoint found SHA-256(code_verifier) equal to the code_challenge");
        Assert.Equal("connected", connection.GetProperty("status").GetString());
        Assert.Equal(["https://www.googleapis.com/auth/drive.file"], connection.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(AdaAccount, connection.GetProperty("email").GetString());
        Assert.DoesNotContain("token", connection.GetRawText(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Tokens_are_encrypted_at_rest()
    {
        await _app.ConnectAsync(_ada, AdaAccount);

        var stored = await _app.ScalarAsync<string>("SELECT access_token || ' ' || refresh_token FROM drive_connections WHERE user_id = @u", ("u", _ada));
        var dump = await _app.ScalarAsync<string>("SELECT string_agg(t::text, ' ') FROM drive_connections t");

        Assert.NotNull(stored);
        Assert.DoesNotContain("ya29.", dump, StringComparison.Ordinal);
        Assert.DoesNotContain("1//", dump, StringComparison.Ordinal);
        Assert.True(_google.HasLiveGrant(AdaAccount));
    }

    [Fact]
    public async Task State_is_single_use_expires_after_ten_minutes_and_is_bound_to_its_user()
    {
        using var ada = _app.ClientFor(_ada);
        using var bob = _app.ClientFor(_bob);
        using var browser = _app.CreateClient();
        async Task<Uri> ConsentedCallbackAsync() =>
            _google.Consent((await (await ada.PostAsync("/drive/connect", null)).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("authorizationUrl").GetString()!, AdaAccount);

        var other = await ConsentedCallbackAsync();
        var byBob = await bob.GetAsync(other.PathAndQuery);
        var byAda = await browser.GetAsync(other.PathAndQuery);
        var replay = await browser.GetAsync(other.PathAndQuery);

        var late = await ConsentedCallbackAsync();
        _app.Time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        var expired = await browser.GetAsync(late.PathAndQuery);

        var forged = await browser.GetAsync("/drive/callback?code=4/x&state=" + WebEncoders.Base64UrlEncode(Encoding.UTF8.GetBytes("{\"Nonce\":\"n\",\"UserId\":\"" + _bob + "\"}")));

        Assert.Equal(HttpStatusCode.BadRequest, byBob.StatusCode);
        Assert.Equal(HttpStatusCode.OK, byAda.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, replay.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, expired.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal("application/problem+json", replay.Content.Headers.ContentType?.MediaType);
        Assert.Single(_google.TokenCalls, c => c.GrantType == "authorization_code");
        Assert.Equal(HttpStatusCode.NotFound, (await bob.GetAsync("/drive/connection")).StatusCode);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM drive_connections WHERE user_id = @u", ("u", _bob)));
    }

    [Fact]
    public async Task Google_Doc_is_exported_as_text_and_a_PDF_downloaded_into_the_vault()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        var doc = _google.AddFile(AdaAccount, "Trip plans", "application/vnd.google-apps.document", Encoding.UTF8.GetBytes("Lisbon in May, with Ada."));
        var pdfBytes = Encoding.ASCII.GetBytes("%PDF-1.7\n% a small pdf\n%%EOF\n");
        var pdf = _google.AddFile(AdaAccount, "receipt.pdf", "application/pdf", pdfBytes);

        var queued = await _app.ImportAsync(_ada, doc.Id, pdf.Id);
        await _app.UntilAsync(async () => await _app.ImportStatusAsync(_ada, doc.Id) == "imported" && await _app.ImportStatusAsync(_ada, pdf.Id) == "imported", "both imports");

        using var ada = _app.ClientFor(_ada);
        var docFile = await ada.GetFromJsonAsync<JsonElement>($"/files/{await _app.VaultFileIdAsync(_ada, doc.Id)}");
        var docText = await ada.GetStringAsync($"/files/{await _app.VaultFileIdAsync(_ada, doc.Id)}/content");
        var pdfFile = await ada.GetFromJsonAsync<JsonElement>($"/files/{await _app.VaultFileIdAsync(_ada, pdf.Id)}");
        var pdfContent = await ada.GetByteArrayAsync($"/files/{await _app.VaultFileIdAsync(_ada, pdf.Id)}/content");

        Assert.Equal(HttpStatusCode.Accepted, queued.StatusCode);
        Assert.Equal("Trip plans.txt", docFile.GetProperty("name").GetString());
        Assert.Equal("text/plain", docFile.GetProperty("contentType").GetString());
        Assert.Equal("Lisbon in May, with Ada.", docText);
        Assert.Contains(_google.DriveCalls, c => c.Call == $"files.export {doc.Id}" && c.Status == 200);
        Assert.Equal("receipt.pdf", pdfFile.GetProperty("name").GetString());
        Assert.Equal("application/pdf", pdfFile.GetProperty("contentType").GetString());
        Assert.Equal(pdfBytes, pdfContent);
        Assert.Equal(2L, await _app.ScalarAsync<long>("SELECT count(*) FROM drive_audit WHERE user_id = @u AND action = 'imported'", ("u", _ada)));
    }

    [Fact]
    public async Task Folders_and_types_the_vault_refuses_are_skipped_with_a_reason_not_retried()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        var folder = _google.AddFile(AdaAccount, "Photos", "application/vnd.google-apps.folder", []);
        var binary = _google.AddFile(AdaAccount, "setup.exe", "application/x-msdownload", [0x4d, 0x5a, 0x90, 0x00]);

        await _app.ImportAsync(_ada, folder.Id, binary.Id);
        await _app.UntilAsync(async () => await _app.ImportStatusAsync(_ada, folder.Id) == "skipped" && await _app.ImportStatusAsync(_ada, binary.Id) == "skipped", "both skipped");
        using var ada = _app.ClientFor(_ada);
        var imports = await ada.GetFromJsonAsync<JsonElement[]>("/drive/imports");

        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u", ("u", _ada)));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'drive.import' AND (status <> 'done' OR attempts <> 1)"));
        Assert.Contains(imports!, i => i.GetProperty("driveFileId").GetString() == folder.Id && i.GetProperty("reason").GetString() == "not an exportable document");
        Assert.Contains(imports!, i => i.GetProperty("driveFileId").GetString() == binary.Id && i.GetProperty("reason").GetString() == "executables are not accepted");
    }

    [Fact]
    public async Task Importing_the_same_unchanged_file_again_stores_it_once()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        var pdf = _google.AddFile(AdaAccount, "a.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 one"));
        await _app.ImportedAsync(_ada, pdf.Id);
        var first = await _app.VaultFileIdAsync(_ada, pdf.Id);

        await _app.ImportAsync(_ada, pdf.Id);
        await _app.UntilAsync(async () => await _app.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'drive.import' AND status = 'pending'") == 0, "second import ran");

        Assert.Equal(first, await _app.VaultFileIdAsync(_ada, pdf.Id));
        Assert.Equal(1L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u AND deleted_at IS NULL", ("u", _ada)));
        Assert.Equal(2, _google.DriveCalls.Count(c => c.Call == $"files.get {pdf.Id}"));
        Assert.Single(_google.DriveCalls, c => c.Call == $"files.download {pdf.Id}");
    }

    [Fact]
    public async Task Edit_in_Drive_reimports_through_a_push_notification_and_deletion_removes_it_from_the_vault()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        var doc = _google.AddFile(AdaAccount, "Notes", "application/vnd.google-apps.document", Encoding.UTF8.GetBytes("version one"));
        await _app.ImportedAsync(_ada, doc.Id);
        var firstVaultId = await _app.VaultFileIdAsync(_ada, doc.Id);
        var channel = Assert.Single(_google.Channels, c => c.Account == AdaAccount);

        _google.EditFile(AdaAccount, doc.Id, Encoding.UTF8.GetBytes("version two"));
        var push = await NotifyAsync(channel, "change", 2);
        Assert.Equal(HttpStatusCode.OK, push.StatusCode);
        await _app.UntilAsync(async () => await _app.VaultFileIdAsync(_ada, doc.Id) is { } id && id != firstVaultId, "re-import after the edit");
        using var ada = _app.ClientFor(_ada);
        var newText = await ada.GetStringAsync($"/files/{await _app.VaultFileIdAsync(_ada, doc.Id)}/content");
        var oldGone = await ada.GetAsync($"/files/{firstVaultId}");

        var secondVaultId = await _app.VaultFileIdAsync(_ada, doc.Id);
        _google.DeleteFile(AdaAccount, doc.Id);
        // No push this time: the scheduled sync (Drive:SyncInterval) finds the deletion.
        _app.Time.Advance(TimeSpan.FromMinutes(15));
        await _app.UntilAsync(async () => await _app.ImportStatusAsync(_ada, doc.Id) == "removed", "removal after the deletion");

        Assert.Equal(HttpStatusCode.OK, push.StatusCode);
        Assert.Equal("version two", newText);
        Assert.Equal(HttpStatusCode.NotFound, oldGone.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ada.GetAsync($"/files/{secondVaultId}")).StatusCode);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u AND deleted_at IS NULL", ("u", _ada)));
    }

    [Fact]
    public async Task Trashed_file_is_removed_and_a_forged_notification_is_refused()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        var pdf = _google.AddFile(AdaAccount, "old.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 old"));
        await _app.ImportedAsync(_ada, pdf.Id);
        var channel = Assert.Single(_google.Channels, c => c.Account == AdaAccount);

        _google.TrashFile(AdaAccount, pdf.Id);
        var forged = await NotifyAsync(channel with { Token = "not-ours" }, "change", 2);
        var otherChannel = await NotifyAsync(channel with { Id = Guid.NewGuid().ToString("N") }, "change", 3);
        var genuine = await NotifyAsync(channel, "change", 4);
        Assert.Equal(HttpStatusCode.OK, genuine.StatusCode);
        await _app.UntilAsync(async () => await _app.ImportStatusAsync(_ada, pdf.Id) == "removed", "removal after trashing");

        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, otherChannel.StatusCode);
        Assert.Equal(HttpStatusCode.OK, genuine.StatusCode);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u AND deleted_at IS NULL", ("u", _ada)));
    }

    [Fact]
    public async Task Access_token_is_refreshed_before_it_expires()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        var pdf = _google.AddFile(AdaAccount, "later.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 later"));

        _app.Time.Advance(TimeSpan.FromMinutes(57));
        await _app.ImportedAsync(_ada, pdf.Id);

        Assert.Contains(_google.TokenCalls, c => c.GrantType == "refresh_token" && c.Account == AdaAccount && c.Honoured);
        Assert.DoesNotContain(_google.DriveCalls, c => c.Status == 401);
    }

    [Fact]
    public async Task A_401_refreshes_once_and_a_revoked_grant_asks_the_user_to_connect_again()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        var first = _google.AddFile(AdaAccount, "one.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 one"));
        var second = _google.AddFile(AdaAccount, "two.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 two"));

        _google.InvalidateAccessTokens(AdaAccount);
        await _app.ImportedAsync(_ada, first.Id);
        _google.RevokeGrant(AdaAccount);
        await _app.ImportAsync(_ada, second.Id);
        await _app.UntilAsync(async () => await _app.ScalarAsync<string>("SELECT status FROM drive_connections WHERE user_id = @u", ("u", _ada)) == "reconsent", "re-consent");
        using var ada = _app.ClientFor(_ada);
        var connection = await ada.GetFromJsonAsync<JsonElement>("/drive/connection");
        var again = await _app.ImportAsync(_ada, second.Id);

        Assert.Single(_google.DriveCalls, c => c.Status == 401 && c.Call == $"files.get {first.Id}");
        Assert.Equal("reconsent_required", connection.GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.NotEqual("imported", await _app.ImportStatusAsync(_ada, second.Id));
    }

    [Fact]
    public async Task Rate_limited_user_waits_with_backoff_without_spending_attempts_while_another_users_import_proceeds()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        await _app.ConnectAsync(_bob, BobAccount);
        var adaFile = _google.AddFile(AdaAccount, "ada.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 ada"));
        var bobFile = _google.AddFile(BobAccount, "bob.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 bob"));
        _google.FailNext(AdaAccount, 429, "error-429-rate-limit.json", retryAfter: TimeSpan.FromSeconds(30));
        _google.FailNext(AdaAccount, 403, "error-403-user-rate-limit.json");

        var before = _app.Time.GetUtcNow();
        await _app.ImportAsync(_ada, adaFile.Id);
        await _app.UntilAsync(async () => await _app.ScalarAsync<string>("SELECT last_error FROM work_items WHERE kind = 'drive.import' AND payload LIKE @f", ("f", $"%{adaFile.Id}%")) is not null, "ada's item deferred");
        var runAt = await _app.ScalarAsync<DateTime>("SELECT run_at FROM work_items WHERE kind = 'drive.import' AND payload LIKE @f", ("f", $"%{adaFile.Id}%"));
        await _app.ImportedAsync(_bob, bobFile.Id);
        var adaWhileBobDone = await _app.ImportStatusAsync(_ada, adaFile.Id);

        _app.Time.Advance(TimeSpan.FromSeconds(31));
        // The streak is counted before the item is deferred from the clock's time: wait for the deferral itself, or the
        // clock could move on first and put the item past the advance below (a CI run under load timed out so).
        await _app.UntilAsync(
            async () => await _app.ScalarAsync<int>("SELECT throttle_streak FROM drive_connections WHERE user_id = @u", ("u", _ada)) == 2
                && await _app.ScalarAsync<bool>("SELECT run_at > @t FROM work_items WHERE kind = 'drive.import' AND payload LIKE @f", ("t", before.AddSeconds(31)), ("f", $"%{adaFile.Id}%")),
            "second rate limit (403 userRateLimitExceeded) and its deferral");
        _app.Time.Advance(TimeSpan.FromSeconds(5));
        await _app.UntilAsync(async () => await _app.ImportStatusAsync(_ada, adaFile.Id) == "imported", "ada's import after the back-off");

        Assert.Equal("queued", adaWhileBobDone);
        // Postgres keeps microseconds: compare at that precision.
        Assert.True(runAt >= before.UtcDateTime.AddSeconds(30).AddTicks(-10), $"deferred to {runAt:O}, Retry-After was 30 s from {before:O}");
        // Two rate-limit answers spent none of ada's attempts (only the run that succeeded counts), and bob's ran once.
        Assert.Equal(1, await _app.ScalarAsync<int>("SELECT attempts FROM work_items WHERE kind = 'drive.import' AND payload LIKE @f", ("f", $"%{adaFile.Id}%")));
        Assert.Equal(1, await _app.ScalarAsync<int>("SELECT attempts FROM work_items WHERE kind = 'drive.import' AND payload LIKE @f", ("f", $"%{bobFile.Id}%")));
        Assert.Equal(0, await _app.ScalarAsync<int>("SELECT throttle_streak FROM drive_connections WHERE user_id = @u", ("u", _ada)));
    }

    [Fact]
    public async Task Disconnect_revokes_at_Google_deletes_the_tokens_and_when_asked_the_imported_files()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        var pdf = _google.AddFile(AdaAccount, "mine.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 mine"));
        await _app.ImportedAsync(_ada, pdf.Id);
        using var ada = _app.ClientFor(_ada);
        using var bob = _app.ClientFor(_bob);

        var byBob = await bob.DeleteAsync("/drive/connection?deleteImported=true");
        var delete = await ada.DeleteAsync("/drive/connection?deleteImported=true");
        await _app.UntilAsync(() => Task.FromResult(_google.RevokedTokens.Count > 0), "the revoke at Google (durable work)");

        Assert.Equal(HttpStatusCode.NotFound, byBob.StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Single(_google.RevokedTokens);
        Assert.False(_google.HasLiveGrant(AdaAccount));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM drive_connections WHERE user_id = @u", ("u", _ada)));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM files WHERE user_id = @u AND deleted_at IS NULL", ("u", _ada)));
        Assert.Equal(HttpStatusCode.NotFound, (await ada.GetAsync("/drive/connection")).StatusCode);
        Assert.Equal(1L, await _app.ScalarAsync<long>("SELECT count(*) FROM drive_audit WHERE user_id = @u AND action = 'disconnected+deleted'", ("u", _ada)));
    }

    [Fact]
    public async Task Disconnect_while_Google_is_down_deletes_the_tokens_at_once_and_revokes_when_Google_recovers()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        using var ada = _app.ClientFor(_ada);
        _google.RevokeOutages = 3;

        var delete = await ada.DeleteAsync("/drive/connection");
        await _app.UntilAsync(() => Task.FromResult(_google.FailedRevokes >= 1), "a first revoke meeting the outage");
        var connectionsRightAfter = await _app.ScalarAsync<long>("SELECT count(*) FROM drive_connections WHERE user_id = @u", ("u", _ada));
        var pendingToken = await _app.ScalarAsync<string>("SELECT token FROM drive_revocations WHERE user_id = @u", ("u", _ada));
        var liveDuringOutage = _google.HasLiveGrant(AdaAccount);
        await _app.UntilAsync(() =>
        {
            // Back-off and an open circuit delay on the app's clock: let it pass, in steps shorter than the renewal of a
            // work lease (a jump past a whole lease lets a running revoke be taken over and sent twice).
            _app.Time.Advance(TimeSpan.FromSeconds(5));
            return Task.FromResult(!_google.HasLiveGrant(AdaAccount));
        }, "the revoke after Google recovers");
        await _app.UntilAsync(async () => await _app.ScalarAsync<long>("SELECT count(*) FROM drive_revocations WHERE user_id = @u", ("u", _ada)) == 0, "the pending token deleted");

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(0L, connectionsRightAfter);
        Assert.NotNull(pendingToken);
        Assert.DoesNotContain(_google.IssuedSecrets, secret => pendingToken!.Contains(secret, StringComparison.Ordinal));
        Assert.True(liveDuringOutage);
        Assert.True(_google.FailedRevokes >= 3);
        Assert.Single(_google.RevokedTokens);
        Assert.Equal(HttpStatusCode.NotFound, (await ada.GetAsync("/drive/connection")).StatusCode);
        Assert.Equal("done", await _app.ScalarAsync<string>("SELECT status FROM work_items WHERE kind = 'drive.revoke' AND payload LIKE @u", ("u", $"%{_ada}%")));
    }

    [Fact]
    public async Task Connecting_again_before_a_pending_revoke_reached_Google_revokes_the_old_grant_first_and_keeps_the_new_one()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        using var ada = _app.ClientFor(_ada);
        _google.RevokeOutages = 1000;
        await ada.DeleteAsync("/drive/connection");
        await _app.UntilAsync(() => Task.FromResult(_google.FailedRevokes >= 1), "a first revoke meeting the outage");

        // The drive chain retries on the app's clock: move it on until the request gives up.
        var connecting = ada.PostAsync("/drive/connect", null);
        await _app.UntilAsync(() =>
        {
            _app.Time.Advance(TimeSpan.FromSeconds(1));
            return Task.FromResult(connecting.IsCompleted);
        }, "connect answered while Google's revoke is down");
        var whileDown = await connecting;
        _google.RevokeOutages = 0;
        // The user tries again after Retry-After (the drive circuit opened during the outage stays open for a while).
        await _app.UntilAsync(async () =>
        {
            _app.Time.Advance(TimeSpan.FromSeconds(5));
            using var again = await ada.PostAsync("/drive/connect", null);
            return again.IsSuccessStatusCode;
        }, "connect starting once Google answers");
        var revokedBeforeConsent = _google.RevokedTokens.Count;
        await _app.ConnectAsync(_ada, AdaAccount);
        // The disconnect's own work item runs after its back-off: it must find nothing left to revoke.
        var revokeItem = await Eventually.Get(() =>
        {
            _app.Time.Advance(TimeSpan.FromSeconds(5));
            return _app.ScalarAsync<string>("SELECT status FROM work_items WHERE kind = 'drive.revoke' AND payload LIKE @u", ("u", $"%{_ada}%"));
        }, status => status is not (null or "pending"));
        var pdf = _google.AddFile(AdaAccount, "after.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 after"));
        await _app.ImportedAsync(_ada, pdf.Id);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, whileDown.StatusCode);
        Assert.True(whileDown.Headers.RetryAfter is not null);
        // The old grant's token reached Google before the consent and never after it: once from the connect, and a second
        // time when the disconnect's own item was already sending it (the connect waits for that attempt to end).
        Assert.InRange(revokedBeforeConsent, 1, 2);
        Assert.Equal(revokedBeforeConsent, _google.RevokedTokens.Count);
        Assert.Single(_google.RevokedTokens.Distinct());
        Assert.Contains(revokeItem, new[] { "ignored", "done" });
        Assert.True(_google.HasLiveGrant(AdaAccount));
        Assert.Equal("connected", (await ada.GetFromJsonAsync<JsonElement>("/drive/connection")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Connecting_again_while_a_sent_revoke_is_unanswered_waits_for_it_and_keeps_the_new_grant()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        using var ada = _app.ClientFor(_ada);
        _google.HoldNextRevoke();
        await ada.DeleteAsync("/drive/connection");
        await _app.UntilAsync(() => Task.FromResult(_google.HeldRevokes == 1), "the disconnect's revoke on its way to Google");

        // Google has the runner's revoke but has not answered it: a consent now would be ended by it.
        using var whileInFlight = await _app.PostWhileTheClockMovesAsync(ada, "/drive/connect");
        _google.ReleaseRevokes();
        await _app.UntilAsync(async () =>
        {
            using var again = await _app.PostWhileTheClockMovesAsync(ada, "/drive/connect");
            return again.IsSuccessStatusCode;
        }, "connect starting once the revoke was answered");
        await _app.ConnectAsync(_ada, AdaAccount);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, whileInFlight.StatusCode);
        Assert.True(whileInFlight.Headers.RetryAfter is not null);
        Assert.True(_google.HasLiveGrant(AdaAccount));
        Assert.Equal("connected", (await ada.GetFromJsonAsync<JsonElement>("/drive/connection")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Another_users_connection_imports_and_audit_are_invisible()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        var pdf = _google.AddFile(AdaAccount, "private.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 private"));
        await _app.ImportedAsync(_ada, pdf.Id);
        using var bob = _app.ClientFor(_bob);

        var connection = await bob.GetAsync("/drive/connection");
        var import = await bob.PostAsJsonAsync("/drive/imports", new { fileIds = new[] { pdf.Id } });
        var imports = await bob.GetFromJsonAsync<JsonElement[]>("/drive/imports");
        var audit = await bob.GetFromJsonAsync<JsonElement[]>("/drive/audit");
        var file = await bob.GetAsync($"/files/{await _app.VaultFileIdAsync(_ada, pdf.Id)}");

        Assert.Equal(HttpStatusCode.NotFound, connection.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, import.StatusCode);
        Assert.Empty(imports!);
        Assert.Empty(audit!);
        Assert.Equal(HttpStatusCode.NotFound, file.StatusCode);
    }

    [Fact]
    public async Task Without_a_Google_client_every_Drive_endpoint_answers_503_with_Retry_After()
    {
        await using var app = new DriveApp(servers.Servers, _google, configured: false);
        await app.StartAsync();
        using var ada = app.ClientFor(_ada);
        using var browser = app.CreateClient();

        var answers = new[]
        {
            await ada.PostAsync("/drive/connect", null),
            await ada.GetAsync("/drive/connection"),
            await ada.DeleteAsync("/drive/connection"),
            await ada.PostAsJsonAsync("/drive/imports", new { fileIds = new[] { "abc" } }),
            await browser.GetAsync("/drive/callback?code=x&state=y"),
        };

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.ServiceUnavailable, a.StatusCode));
        Assert.All(answers, a => Assert.Equal("application/problem+json", a.Content.Headers.ContentType?.MediaType));
        Assert.All(answers, a => Assert.NotNull(a.Headers.RetryAfter));
        Assert.Contains("Drive:ClientId", await answers[0].Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connecting_again_keeps_one_sync_schedule_per_user()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        await _app.ConnectAsync(_ada, AdaAccount);
        const string Pending = "SELECT count(*) FROM work_items WHERE kind = 'drive.sync' AND status = 'pending'";
        await _app.UntilAsync(async () => await _app.ScalarAsync<long>(Pending) == 2, "both consents scheduled a next run");

        _app.Time.Advance(TimeSpan.FromMinutes(15));
        await _app.UntilAsync(async () => await _app.ScalarAsync<long>("SELECT count(*) FROM work_items WHERE kind = 'drive.sync' AND status = 'ignored'") == 1, "the older schedule stopped");
        await _app.UntilAsync(async () => await _app.ScalarAsync<long>(Pending) == 1, "one run scheduled");

        Assert.Equal(1L, await _app.ScalarAsync<long>(Pending));
        Assert.Equal(2L, await _app.ScalarAsync<long>("SELECT count(*) FROM drive_audit WHERE user_id = @u AND action = 'connected'", ("u", _ada)));
    }

    [Fact]
    public async Task Every_Drive_and_OAuth_call_is_metered_for_its_user_on_the_drive_chain()
    {
        await _app.ConnectAsync(_ada, AdaAccount);
        var pdf = _google.AddFile(AdaAccount, "metered.pdf", "application/pdf", Encoding.ASCII.GetBytes("%PDF-1.4 metered"));
        _google.FailNext(AdaAccount, 429, "error-429-rate-limit.json", retryAfter: TimeSpan.FromSeconds(1));
        await _app.ImportAsync(_ada, pdf.Id);
        await _app.UntilAsync(async () => await _app.ScalarAsync<string>("SELECT last_error FROM work_items WHERE kind = 'drive.import'") is not null, "import deferred");
        _app.Time.Advance(TimeSpan.FromSeconds(3));
        await _app.UntilAsync(async () => await _app.ImportStatusAsync(_ada, pdf.Id) == "imported", "import");

        await _app.UntilAsync(async () => await _app.ScalarAsync<long>("SELECT count(*) FROM usage_ledger WHERE operation = 'files.download'") > 0, "ledger rows written");
        var rows = await _app.ScalarAsync<string>(
            "SELECT string_agg(DISTINCT operation || '/' || outcome || '/' || COALESCE(error, ''), ',') FROM usage_ledger WHERE capability = 'drive' AND provider = 'google-drive' AND user_id = @u",
            ("u", _ada));

        Assert.Contains("token/ok/", rows, StringComparison.Ordinal);
        Assert.Contains("changes.startPageToken/ok/", rows, StringComparison.Ordinal);
        Assert.Contains("files.get/error/rejected", rows, StringComparison.Ordinal);
        Assert.Contains("files.get/ok/", rows, StringComparison.Ordinal);
        Assert.Contains("files.download/ok/", rows, StringComparison.Ordinal);
        Assert.Equal(1m, await _app.ScalarAsync<decimal>("SELECT units FROM usage_ledger WHERE operation = 'files.download' AND user_id = @u", ("u", _ada)));
        Assert.Equal("transfers", await _app.ScalarAsync<string>("SELECT unit FROM usage_ledger WHERE operation = 'files.download' AND user_id = @u", ("u", _ada)));
    }

    [Fact]
    public async Task Codes_tokens_and_file_contents_never_reach_the_logs()
    {
        var logs = new CapturedLogs();
        await using var app = new DriveApp(servers.Servers, _google, logs: logs);
        _google.Time = app.Time;
        await app.StartAsync();
        await app.ConnectAsync(_ada, AdaAccount);
        const string secretText = "the-diary-entry-nobody-may-read";
        var doc = _google.AddFile(AdaAccount, "Diary", "application/vnd.google-apps.document", Encoding.UTF8.GetBytes(secretText));
        _google.InvalidateAccessTokens(AdaAccount);
        await app.ImportAsync(_ada, doc.Id);
        await app.UntilAsync(async () => await app.ImportStatusAsync(_ada, doc.Id) == "imported", "import");
        using (var ada = app.ClientFor(_ada))
        {
            Assert.Equal(HttpStatusCode.NoContent, (await ada.DeleteAsync("/drive/connection")).StatusCode);
        }

        var lines = logs.Lines;
        Assert.NotEmpty(lines);
        Assert.True(_google.IssuedSecrets.Count >= 4, "a code, a refresh token and two access tokens were issued");
        foreach (var secret in _google.IssuedSecrets.Append(secretText))
        {
            Assert.DoesNotContain(lines, l => l.Contains(secret, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Read_only_scope_is_asked_for_incrementally_only_when_configured()
    {
        using var ada = _app.ClientFor(_ada);
        var refused = await ada.PostAsync("/drive/connect?access=readonly", null);

        await using var broader = new DriveApp(servers.Servers, _google);
        using var configured = broader.WithWebHostBuilder(b => b.UseSetting("Drive:AllowReadOnlyScope", "true"));
        using var client = configured.CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Sunaiva.Testing.DevTokens.For(_ada));
        var start = await (await client.PostAsync("/drive/connect?access=readonly", null)).Content.ReadFromJsonAsync<JsonElement>();
        var query = QueryHelpers.ParseQuery(new Uri(start.GetProperty("authorizationUrl").GetString()!).Query);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("https://www.googleapis.com/auth/drive.file https://www.googleapis.com/auth/drive.readonly", query["scope"].ToString());
        Assert.Equal("true", query["include_granted_scopes"].ToString());
    }

    [Fact]
    public async Task A_bodyless_notification_without_content_type_reaches_the_channel_check_and_an_unknown_token_is_refused()
    {
        using var google = _app.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/google-drive");
        request.Headers.Add("X-Goog-Channel-ID", "abc");
        request.Headers.Add("X-Goog-Channel-Token", "x");
        request.Headers.Add("X-Goog-Resource-State", "change");
        request.Headers.Add("X-Goog-Message-Number", "1");
        var response = await google.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("channel token", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM webhook_inbox"));
    }

    private async Task<HttpResponseMessage> NotifyAsync(FakeChannel channel, string state, long number)
    {
        using var google = _app.CreateClient();
        // As Google documents a notification: an empty body with "Content-Type: application/json; utf-8".
        using var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/google-drive") { Content = new ByteArrayContent([]) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json; utf-8");
        request.Headers.Add("X-Goog-Channel-ID", channel.Id);
        request.Headers.Add("X-Goog-Channel-Token", channel.Token);
        request.Headers.Add("X-Goog-Resource-ID", channel.ResourceId);
        request.Headers.Add("X-Goog-Resource-State", state);
        request.Headers.Add("X-Goog-Message-Number", number.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return await google.SendAsync(request);
    }
}
