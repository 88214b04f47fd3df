using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Sunaiva.ServiceDefaults.Auth;

namespace Sunaiva.Media;

/// <summary>
/// The bearer token Media sends to Voice's service endpoints (<c>POST /tts</c>, <c>POST /transcriptions</c>): signed with
/// the shared JWT key, its subject the user the call serves, its authorized party Media, short-lived.
/// </summary>
public static class VoiceServiceToken
{
    public static string For(JwtOptions settings, string userId, DateTimeOffset now, TimeSpan lifetime)
    {
        var issued = now.UtcDateTime;
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = settings.Issuer,
            Audience = settings.Audience,
            Claims = new Dictionary<string, object> { ["sub"] = userId, ["azp"] = "sunaiva-media" },
            IssuedAt = issued,
            NotBefore = issued,
            Expires = issued + lifetime,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(System.Text.Encoding.UTF8.GetBytes(settings.SigningKey)), SecurityAlgorithms.HmacSha256),
        });
    }
}
