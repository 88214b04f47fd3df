using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Sunaiva.AppHost;

/// <summary>A development ops token: HS256 JWT with the ops role, signed with the AppHost's jwt-signing-key (local runs only).</summary>
public static class DevOpsToken
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);

    public static string Mint(string signingKey, string issuer, string audience, DateTimeOffset now)
    {
        var header = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = "HS256", ["typ"] = "JWT" }));
        var payload = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["sub"] = "ops-dashboard",
            ["role"] = "ops",
            ["iss"] = issuer,
            ["aud"] = audience,
            ["iat"] = now.ToUnixTimeSeconds(),
            ["nbf"] = now.ToUnixTimeSeconds(),
            ["exp"] = (now + Lifetime).ToUnixTimeSeconds(),
        }));
        var signature = HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingKey), Encoding.ASCII.GetBytes($"{header}.{payload}"));
        return $"{header}.{payload}.{Base64Url(signature)}";
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
