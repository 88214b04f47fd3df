using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Engagement.Email;

/// <summary>Sender identity, public links and token signing of our emails (section <c>Email</c>).</summary>
public sealed class EmailOptions : IValidatableObject
{
    public const string SectionName = "Email";

    [Required(ErrorMessage = "Email:FromAddress is required.")]
    [EmailAddress(ErrorMessage = "Email:FromAddress must be an email address.")]
    public string FromAddress { get; set; } = "hello@sunaiva.local";

    [Required(ErrorMessage = "Email:FromName is required.")]
    public string FromName { get; set; } = "Sunaiva";

    /// <summary>Where readers reach Engagement (unsubscribe, tracking): https outside development.</summary>
    [Required(ErrorMessage = "Email:PublicBaseUrl is required (the https address of Engagement's public endpoints).")]
    public string PublicBaseUrl { get; set; } = string.Empty;

    /// <summary>Where the app lives: the welcome emails link into it.</summary>
    [Required(ErrorMessage = "Email:AppBaseUrl is required.")]
    public string AppBaseUrl { get; set; } = "https://app.sunaiva.local";

    /// <summary>HMAC key of unsubscribe, open and click tokens (AppHost parameter email-signing-key).</summary>
    [Required(ErrorMessage = "Email:SigningKey is required (32 characters or more).")]
    [MinLength(32, ErrorMessage = "Email:SigningKey must have 32 characters or more.")]
    public string SigningKey { get; set; } = string.Empty;

    /// <summary>Open pixel and click redirects in marketing emails (never in transactional ones).</summary>
    public bool Tracking { get; set; } = true;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (key, value) in new[] { ("Email:PublicBaseUrl", PublicBaseUrl), ("Email:AppBaseUrl", AppBaseUrl) })
        {
            if (!string.IsNullOrEmpty(value) && (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)))
            {
                yield return new ValidationResult($"{key} must be an absolute http(s) URL.", [key]);
            }
        }
    }
}
