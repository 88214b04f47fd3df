using System.ComponentModel.DataAnnotations;

namespace Sunaiva.ServiceDefaults.Auth;

/// <summary>How bearer tokens from the conversation backend are validated (section <c>Jwt</c>).</summary>
public sealed class JwtOptions
{
    public const string SectionName = "Jwt";

    [Required(ErrorMessage = "Jwt:Issuer is not configured.")]
    public string Issuer { get; set; } = ResourceNames.DevJwtIssuer;

    [Required(ErrorMessage = "Jwt:Audience is not configured.")]
    public string Audience { get; set; } = ResourceNames.JwtAudience;

    /// <summary>HS256 key; the AppHost passes its secret parameter <c>jwt-signing-key</c>.</summary>
    [Required(ErrorMessage = "Jwt:SigningKey is not configured (AppHost parameter jwt-signing-key).")]
    [MinLength(32, ErrorMessage = "Jwt:SigningKey must be at least 32 characters.")]
    public string SigningKey { get; set; } = string.Empty;
}
