using Dapper;
using Google.Apis.Auth.OAuth2.Requests;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Work;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Media.Drive;

/// <summary>What <c>POST /drive/connect</c> answers: where to send the browser, and until when that works.</summary>
public sealed record DriveConnectStart(string AuthorizationUrl, DateTimeOffset ExpiresAt);

/// <summary>The Drive file ids the user picked with Google Picker.</summary>
public sealed record DriveImportRequest(IReadOnlyList<string>? FileIds);

/// <summary>What <c>POST /drive/imports</c> answers: the files queued for import.</summary>
public sealed record DriveImportsQueued(IReadOnlyList<string> Queued);

/// <summary>
/// <c>/drive</c>: connect (OAuth 2.0 code flow with PKCE S256 and a single-use state), the connection, imports of picked files,
/// the audit trail. Without Drive:ClientId/ClientSecret every route answers 503 with Retry-After.
/// </summary>
public static partial class DriveApi
{
    public static RouteGroupBuilder MapDriveEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/drive").RequireAuthorization().WithTags("Drive");
        group.AddEndpointFilter(async (context, next) =>
        {
            var options = context.HttpContext.RequestServices.GetRequiredService<IOptions<DriveOptions>>().Value;
            if (!options.IsConfigured)
            {
                return NotConfigured(context.HttpContext);
            }

            using var _ = Sunaiva.Integration.MeteringContext.ForUser(context.HttpContext.User.FindFirst("sub")?.Value);
            return await next(context);
        });

        group.MapPost("/connect", ConnectAsync).ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Start connecting Google Drive: the Google authorization URL (PKCE S256, state valid 10 minutes, once)")
            .WithDescription("access=file (default) asks for drive.file: the server sees only files the user picks with Google Picker. "
                + "access=readonly adds drive.readonly incrementally (include_granted_scopes=true), only when Drive:AllowReadOnlyScope is set. "
                + "A previous disconnect whose revoke has not reached Google yet is revoked first (503 with Retry-After while Google does not answer, "
                + "or while a revoke already sent is still unanswered after 3 s).");
        group.MapGet("/callback", CallbackAsync).AllowAnonymous().ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Google's redirect after consent: checks the single-use state, exchanges the code (with the PKCE verifier), stores the grant")
            .WithDescription("Anonymous (the browser arrives from Google); the state names the user. A state that is forged, expired, used, or presented by another signed-in user is refused. "
                + "Redirects to Drive:ReturnUrl when set, else answers the connection.");
        group.MapGet("/connection", GetConnectionAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("The caller's Drive connection: status (connected | reconsent_required), granted scopes, Google account email");
        group.MapDelete("/connection", DisconnectAsync).ProducesProblems(StatusCodes.Status404NotFound)
            .WithSummary("Disconnect Drive: revokes the grant at Google, deletes the tokens and, with deleteImported=true, the imported files");
        group.MapPost("/imports", ImportAsync)
            .WithIdempotencyKey("Optional. A retry with the same key queues nothing new.")
            .WithRequestExample(new DriveImportRequest(["1a2B3c4D5e6F7g8H9i0J"]))
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict)
            .WithSummary("Import Drive files the user picked (Google Picker ids): Docs/Sheets/Slides exported to text, other files downloaded")
            .WithDescription("202: each file is imported by durable work; GET /drive/imports shows progress. Imported files follow their Drive edits and deletions.");
        group.MapGet("/imports", ListImportsAsync)
            .WithSummary("The Drive files the caller picked, with their import status and vault file id");
        group.MapGet("/audit", AuditAsync)
            .WithSummary("The caller's Drive audit trail: connections, imports, re-imports, removals, disconnection");
        return group;
    }

    private static async Task<Results<Ok<DriveConnectStart>, ProblemHttpResult>> ConnectAsync(
        HttpContext http, DriveOAuthState states, DriveRevokeWork revocations, IOptions<DriveOptions> options, CancellationToken ct, string access = "file")
    {
        var o = options.Value;
        if (access is not ("file" or "readonly"))
        {
            return TypedResults.Problem(statusCode: 400, title: "Unknown access", detail: "access is 'file' (default) or 'readonly'.");
        }

        if (access == "readonly" && !o.AllowReadOnlyScope)
        {
            return TypedResults.Problem(statusCode: 400, title: "Read-only access is not offered", detail: "Only drive.file access (files picked with Google Picker) is configured.");
        }

        // A disconnect whose revoke has not reached Google yet is finished first: Google revokes whole grants, so that
        // revoke arriving after this consent would end the new grant too.
        if (!await revocations.SettlePendingAsync(http.User.UserId(), ct))
        {
            http.Response.Headers.RetryAfter = "5";
            return TypedResults.Problem(statusCode: 503, title: "Disconnect still in progress",
                detail: "Google has not yet answered the revoke of the previous connection; connect again after the Retry-After delay.");
        }

        var scopes = access == "readonly" ? $"{DriveOptions.FileScope} {DriveOptions.ReadOnlyScope}" : DriveOptions.FileScope;
        var redirectUri = o.RedirectUri ?? $"{http.Request.Scheme}://{http.Request.Host}/drive/callback";
        var (state, challenge, expiresAt) = await states.CreateAsync(http.User.UserId(), scopes, redirectUri, o.StateLifetime, ct);
        var url = new GoogleAuthorizationCodeRequestUrl(new Uri(o.AuthorizationEndpoint))
        {
            ClientId = o.ClientId,
            RedirectUri = redirectUri,
            Scope = scopes,
            State = state,
            AccessType = "offline",
            IncludeGrantedScopes = "true",
            CodeChallenge = challenge,
            CodeChallengeMethod = "S256",
            ResponseType = "code",
        }.Build();
        return TypedResults.Ok(new DriveConnectStart(url.AbsoluteUri, expiresAt));
    }

    private static async Task<Results<Ok<DriveConnectionView>, RedirectHttpResult, ProblemHttpResult>> CallbackAsync(
        HttpContext http,
        DriveOAuthState states,
        DriveGateway gateway,
        DriveConnectionStore connections,
        DriveImportStore imports,
        WorkQueue queue,
        NpgsqlDataSource dataSource,
        IOptions<DriveOptions> options,
        TimeProvider time,
        ILoggerFactory loggers,
        CancellationToken ct,
        string? code = null,
        string? state = null,
        string? error = null)
    {
        var logger = loggers.CreateLogger("Sunaiva.Media.Drive");
        if (string.IsNullOrEmpty(state) || state.Length > 2048 || states.UserOf(state) is not { } stateUser)
        {
            LogCallbackRefused(logger, "invalid or expired state");
            return BadState();
        }

        // A signed-in caller may only complete their own consent (a state leaked to, or planted on, another user is refused).
        if (http.User.Identity?.IsAuthenticated == true && http.User.UserId() != stateUser)
        {
            LogCallbackRefused(logger, "state of another user");
            return BadState();
        }

        if (await states.ConsumeAsync(state, ct) is not { } grant)
        {
            LogCallbackRefused(logger, "state already used or expired");
            return BadState();
        }

        if (!string.IsNullOrEmpty(error) || string.IsNullOrEmpty(code))
        {
            return TypedResults.Problem(statusCode: 400, title: "Drive was not connected", detail: "Google did not grant access (consent declined or no code).");
        }

        Google.Apis.Auth.OAuth2.Responses.TokenResponse token;
        try
        {
            token = await gateway.ExchangeCodeAsync(grant.UserId, code, grant.CodeVerifier, grant.RedirectUri, ct);
        }
        catch (DriveReconsentRequiredException)
        {
            LogCallbackRefused(logger, "code refused by Google");
            return TypedResults.Problem(statusCode: 400, title: "Authorization code refused", detail: "Google refused the code (expired, used, or not issued for this request). Connect again.");
        }

        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            var schedule = Guid.CreateVersion7().ToString("N")[..16];
            await connections.SaveGrantAsync(connection, tx, grant.UserId, token.Scope ?? grant.Scopes, null, token.AccessToken, token.RefreshToken, gateway.ExpiresAt(token), schedule, ct);
            // Connecting again keeps the page token (changes made meanwhile are still read) and replaces the schedule.
            await queue.EnqueueAsync(connection, tx, DriveSyncWork.Scheduled(grant.UserId, schedule, time.GetUtcNow()), ct);
            await imports.AuditAsync(connection, tx, grant.UserId, "connected", null, null, ct);
            await tx.CommitAsync(ct);
        }

        await TryStoreEmailAsync(gateway, grant.UserId, dataSource, ct);
        if (options.Value.ReturnUrl is { } returnUrl)
        {
            return TypedResults.Redirect(returnUrl + (returnUrl.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "drive=connected");
        }

        return TypedResults.Ok((await connections.GetViewAsync(grant.UserId, ct))!);
    }

    // The account email is a convenience for the client's display: a failure here must not fail the connection.
    private static async Task TryStoreEmailAsync(DriveGateway gateway, string userId, NpgsqlDataSource dataSource, CancellationToken ct)
    {
        try
        {
            var email = await gateway.CallAsync(userId, "about.get", (p, token, t) => p.GetEmailAsync(token, t), ct);
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            await connection.ExecuteAsync(new CommandDefinition("UPDATE drive_connections SET email = @email WHERE user_id = @userId", new { email, userId }, cancellationToken: ct));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Left unknown; GET /drive/connection shows email: null.
        }
    }

    private static async Task<Results<Ok<DriveConnectionView>, ProblemHttpResult>> GetConnectionAsync(HttpContext http, DriveConnectionStore connections, CancellationToken ct) =>
        await connections.GetViewAsync(http.User.UserId(), ct) is { } view ? TypedResults.Ok(view) : NoConnection();

    private static async Task<Results<NoContent, ProblemHttpResult>> DisconnectAsync(
        HttpContext http,
        DriveConnectionStore connections,
        DriveImportStore imports,
        IDriveImportTarget target,
        NpgsqlDataSource dataSource,
        WorkQueue queue,
        WorkSignal signal,
        TimeProvider time,
        CancellationToken ct,
        bool deleteImported = false)
    {
        var userId = http.User.UserId();
        if (await connections.GetViewAsync(userId, ct) is null)
        {
            return NoConnection();
        }

        if (deleteImported)
        {
            await target.DeleteAllImportedAsync(userId, ct);
        }

        // The tokens go at once; the revoke at Google is durable work (DriveRevokeWork) holding only the protected token
        // it needs, retried with back-off until Google answers, so a Google outage cannot leave a live grant behind.
        await using (var db = await dataSource.OpenConnectionAsync(ct))
        await using (var tx = await db.BeginTransactionAsync(ct))
        {
            if (!await DriveRevokeWork.QueueAsync(db, tx, queue, userId, time.GetUtcNow(), ct))
            {
                return NoConnection();
            }

            await db.ExecuteAsync(new CommandDefinition(
                "DELETE FROM drive_connections WHERE user_id = @userId; DELETE FROM drive_oauth_states WHERE user_id = @userId;",
                new { userId }, tx, cancellationToken: ct));
            if (deleteImported)
            {
                await imports.DeleteAllAsync(db, tx, userId, ct);
            }

            await imports.AuditAsync(db, tx, userId, deleteImported ? "disconnected+deleted" : "disconnected", null, null, ct);
            await tx.CommitAsync(ct);
        }

        signal.NotifyCommitted();
        return TypedResults.NoContent();
    }

    private static async Task<Results<Accepted<DriveImportsQueued>, ProblemHttpResult>> ImportAsync(
        DriveImportRequest body,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        HttpContext http,
        DriveConnectionStore connections,
        DriveImportStore imports,
        WorkQueue queue,
        NpgsqlDataSource dataSource,
        CancellationToken ct)
    {
        var ids = (body.FileIds ?? []).Distinct(StringComparer.Ordinal).ToList();
        if (ids.Count is 0 or > 100 || !ids.All(DriveKeys.IsValidFileId))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid file ids", detail: "Send 1 to 100 Drive file ids (letters, digits, '-' and '_').");
        }

        if (idempotencyKey is not null && !InputRules.IsOpaqueKey(idempotencyKey))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid Idempotency-Key", detail: "Send one key of 1 to 200 printable ASCII characters (no commas).");
        }

        var userId = http.User.UserId();
        var view = await connections.GetViewAsync(userId, ct);
        if (view is null)
        {
            return NoConnection();
        }

        if (view.Status != "connected")
        {
            return TypedResults.Problem(statusCode: 409, title: "Drive needs to be connected again", detail: "Google no longer accepts this connection's grant; connect Drive again (POST /drive/connect).");
        }

        var suffix = idempotencyKey is null ? Guid.CreateVersion7().ToString("N") : "k:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(idempotencyKey)))[..24];
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            await imports.MarkQueuedAsync(connection, tx, userId, ids, ct);
            await queue.EnqueueAsync(connection, tx, ids.Select(id => DriveImportWork.For(userId, id, suffix)).ToList(), ct);
            await tx.CommitAsync(ct);
        }

        return TypedResults.Accepted("/drive/imports", new DriveImportsQueued(ids));
    }

    private static async Task<Ok<IReadOnlyList<DriveImport>>> ListImportsAsync(HttpContext http, DriveImportStore imports, CancellationToken ct) =>
        TypedResults.Ok(await imports.ListAsync(http.User.UserId(), ct));

    private static async Task<Ok<IReadOnlyList<DriveAuditEntry>>> AuditAsync(HttpContext http, DriveImportStore imports, CancellationToken ct, int limit = 100) =>
        TypedResults.Ok(await imports.AuditTrailAsync(http.User.UserId(), Math.Clamp(limit, 1, 500), ct));

    private static ProblemHttpResult NotConfigured(HttpContext http)
    {
        http.Response.Headers.RetryAfter = "3600";
        return TypedResults.Problem(statusCode: 503, title: "Google Drive is not configured",
            detail: "This deployment has no Google OAuth client: set Drive:ClientId and Drive:ClientSecret (AppHost secret parameters drive-client-id, drive-client-secret).",
            type: "https://sunaiva.dev/problems/drive-not-configured");
    }

    // Another user's connection and no connection look the same.
    private static ProblemHttpResult NoConnection() =>
        TypedResults.Problem(statusCode: 404, title: "No Drive connection", detail: "Connect Google Drive first (POST /drive/connect).");

    private static ProblemHttpResult BadState() =>
        TypedResults.Problem(statusCode: 400, title: "Invalid OAuth state", detail: "The state is unknown, expired, already used or not yours. Start again with POST /drive/connect.");

    [LoggerMessage(Level = LogLevel.Warning, Message = "Drive OAuth callback refused: {Reason}")]
    private static partial void LogCallbackRefused(ILogger logger, string reason);
}
