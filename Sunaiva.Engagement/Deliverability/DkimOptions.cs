using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Engagement.Deliverability;

/// <summary>DKIM signing of outgoing mail (section <c>Email:Dkim</c>); off unless a private key is configured.</summary>
public sealed class DkimOptions : IValidatableObject
{
    public const string SectionName = "Email:Dkim";

    /// <summary>The signing domain (<c>d=</c>), normally the From address's domain.</summary>
    public string? Domain { get; set; }

    /// <summary>The selector (<c>s=</c>): the public key is published at <c>{Selector}._domainkey.{Domain}</c>.</summary>
    public string? Selector { get; set; }

    /// <summary>The RSA private key, PEM (AppHost secret parameter); or <see cref="PrivateKeyPath"/>.</summary>
    public string? PrivateKeyPem { get; set; }

    public string? PrivateKeyPath { get; set; }

    public bool IsConfigured => !string.IsNullOrWhiteSpace(PrivateKeyPem) || !string.IsNullOrWhiteSpace(PrivateKeyPath);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (IsConfigured && string.IsNullOrWhiteSpace(Domain))
        {
            yield return new ValidationResult("Email:Dkim:Domain is required when a DKIM key is configured.", ["Email:Dkim:Domain"]);
        }

        if (IsConfigured && string.IsNullOrWhiteSpace(Selector))
        {
            yield return new ValidationResult("Email:Dkim:Selector is required when a DKIM key is configured.", ["Email:Dkim:Selector"]);
        }

        if (!string.IsNullOrWhiteSpace(PrivateKeyPath) && !File.Exists(PrivateKeyPath))
        {
            yield return new ValidationResult("Email:Dkim:PrivateKeyPath names no file.", ["Email:Dkim:PrivateKeyPath"]);
        }
    }
}
