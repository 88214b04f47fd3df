using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Sunaiva.AppHost;

/// <summary>A development ops token: HS256 JWT with the ops role, signed with the AppHost's jwt-signing-key (local runs only).</summary>
public static class DevOpsToken
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    public static string Mint(string signingKey, string issuer, string audience, DateTimeOffset now) =>
        new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Claims = new Dictionary<string, object> { ["sub"] = "ops-dashboard", ["role"] = "ops" },
            Issuer = issuer,
            Audience = audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = (now + Lifetime).UtcDateTime,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(signingKey)), SecurityAlgorithms.HmacSha256),
        });
}
