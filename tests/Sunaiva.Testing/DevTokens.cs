using System.Security.Claims;
using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Sunaiva.Testing;

/// <summary>Bearer tokens shaped like the conversation backend's, signed with a test key.</summary>
public static class DevTokens
{
    public const string TestSigningKey = "test-signing-key-0123456789-0123456789-abcdef";

    public static string For(string userId, bool ops = false, string signingKey = TestSigningKey, string issuer = "sunaiva-dev", string audience = "sunaiva")
    {
        var claims = new List<Claim> { new("sub", userId) };
        if (ops)
        {
            claims.Add(new Claim("role", "ops"));
        }

        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Subject = new ClaimsIdentity(claims),
            Issuer = issuer,
            Audience = audience,
            Expires = DateTime.UtcNow.AddHours(1),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(signingKey)), SecurityAlgorithms.HmacSha256),
        });
    }
}
