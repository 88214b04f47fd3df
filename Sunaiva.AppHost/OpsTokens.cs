using System.IdentityModel.Tokens.Jwt;
using System.Security.Claims;
using System.Text;
using Microsoft.IdentityModel.Tokens;

namespace Sunaiva.AppHost;

/// <summary>Short-lived ops bearer tokens for dashboard commands, signed with the jwt-signing-key parameter.</summary>
public static class OpsTokens
{
    /// <summary>An HS256 token (issuer sunaiva-dev, audience sunaiva, role ops) valid for five minutes.</summary>
    public static string Mint(string signingKey, string subject = "aspire-dashboard", TimeProvider? time = null)
    {
        var now = (time ?? TimeProvider.System).GetUtcNow().UtcDateTime;
        var handler = new JwtSecurityTokenHandler { MapInboundClaims = false };
        var token = handler.CreateJwtSecurityToken(new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity([new Claim("sub", subject), new Claim("role", "ops")]),
            Issuer = ResourceNames.DevJwtIssuer,
            Audience = ResourceNames.JwtAudience,
            IssuedAt = now,
            NotBefore = now.AddSeconds(-5),
            Expires = now.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(signingKey)), SecurityAlgorithms.HmacSha256),
        });
        return handler.WriteToken(token);
    }

    /// <summary>Resolves the signing key parameter and mints a token from it.</summary>
    public static async Task<string> MintAsync(IResourceBuilder<ParameterResource> signingKey, CancellationToken cancellationToken) =>
        Mint(await signingKey.Resource.GetValueAsync(cancellationToken) ?? throw new InvalidOperationException("The jwt-signing-key parameter has no value."));
}
