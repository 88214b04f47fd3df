using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.WebUtilities;
using Npgsql;

namespace Sunaiva.Media.Drive;

/// <summary>What a valid <c>state</c> gives back: whose grant this is, the PKCE verifier, and what was asked for.</summary>
public sealed record DriveOAuthGrant(string UserId, string CodeVerifier, string Scopes, string RedirectUri);

/// <summary>
/// OAuth <c>state</c> for the authorization code flow: a Data Protection payload (signed and encrypted: nonce, user, expiry)
/// plus a row in <c>drive_oauth_states</c> holding the PKCE verifier, consumed by one UPDATE so a state works once, within
/// <see cref="DriveOptions.StateLifetime"/>, and only for the user it was made for.
/// </summary>
public sealed class DriveOAuthState(NpgsqlDataSource dataSource, IDataProtectionProvider protection, TimeProvider time)
{
    private readonly IDataProtector _state = protection.CreateProtector("Sunaiva.Media.Drive.State.v1");
    private readonly IDataProtector _verifier = protection.CreateProtector("Sunaiva.Media.Drive.Verifier.v1");

    /// <summary>Creates a state and its PKCE pair; returns the state and the S256 code challenge.</summary>
    public async Task<(string State, string CodeChallenge, DateTimeOffset ExpiresAt)> CreateAsync(string userId, string scopes, string redirectUri, TimeSpan lifetime, CancellationToken ct)
    {
        var nonce = WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(16));
        // RFC 7636: 32 random octets, base64url = 43 characters of [A-Za-z0-9-_].
        var verifier = WebEncoders.Base64UrlEncode(RandomNumberGenerator.GetBytes(32));
        var challenge = WebEncoders.Base64UrlEncode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
        var expiresAt = time.GetUtcNow() + lifetime;
        await using (var connection = await dataSource.OpenConnectionAsync(ct))
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                DELETE FROM drive_oauth_states WHERE expires_at < @now - interval '1 day';
                INSERT INTO drive_oauth_states (nonce, user_id, code_verifier, scopes, redirect_uri, expires_at) VALUES (@nonce, @userId, @verifier, @scopes, @redirectUri, @expiresAt);
                """,
                new { nonce, userId, verifier = _verifier.Protect(verifier), scopes, redirectUri, expiresAt, now = time.GetUtcNow() }, cancellationToken: ct));
        }

        var payload = JsonSerializer.SerializeToUtf8Bytes(new StatePayload(nonce, userId, expiresAt.ToUnixTimeSeconds()));
        return (WebEncoders.Base64UrlEncode(_state.Protect(payload)), challenge, expiresAt);
    }

    /// <summary>Reads a state without consuming it: null when forged, tampered with or expired.</summary>
    public string? UserOf(string state) => Read(state) is { } payload && payload.ExpiresAt > time.GetUtcNow().ToUnixTimeSeconds() ? payload.UserId : null;

    /// <summary>Consumes a state once; null when it is forged, expired, already used, or not this user's.</summary>
    public async Task<DriveOAuthGrant?> ConsumeAsync(string state, CancellationToken ct)
    {
        if (Read(state) is not { } payload || payload.ExpiresAt <= time.GetUtcNow().ToUnixTimeSeconds())
        {
            return null;
        }

        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<(string Verifier, string Scopes, string RedirectUri)>(new CommandDefinition(
            """
            UPDATE drive_oauth_states SET consumed_at = @now
            WHERE nonce = @nonce AND user_id = @userId AND consumed_at IS NULL AND expires_at > @now
            RETURNING code_verifier, scopes, redirect_uri
            """,
            new { nonce = payload.Nonce, userId = payload.UserId, now = time.GetUtcNow() }, cancellationToken: ct));
        return row.Verifier is null ? null : new DriveOAuthGrant(payload.UserId, _verifier.Unprotect(row.Verifier), row.Scopes, row.RedirectUri);
    }

    private StatePayload? Read(string state)
    {
        try
        {
            return JsonSerializer.Deserialize<StatePayload>(_state.Unprotect(WebEncoders.Base64UrlDecode(state)));
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException or JsonException)
        {
            return null;
        }
    }

    private sealed record StatePayload(string Nonce, string UserId, long ExpiresAt);
}
