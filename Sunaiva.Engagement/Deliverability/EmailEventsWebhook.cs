using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Engagement.Deliverability;

/// <summary>Signing secret of the bounce and complaint webhook (section <c>Email:Webhooks</c>).</summary>
public sealed class EmailWebhookOptions
{
    public const string SectionName = "Email:Webhooks";

    public string? SigningSecret { get; set; }

    public TimeSpan Tolerance { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// One delivery event from a mail provider (or a relay that translates the provider's own shape):
/// <c>type</c> is <c>bounce</c> or <c>complaint</c>; <c>bounceType</c> <c>hard</c> or <c>soft</c>.
/// </summary>
public sealed record EmailProviderEvent(string Id, string Type, string Email, string? BounceType, string? MessageId, DateTimeOffset? OccurredAt);

/// <summary>
/// <c>POST /webhooks/email</c>: a generic signed JSON shape. Header <c>Sunaiva-Signature: t={unix seconds},v1={hex}</c>
/// where v1 = HMAC-SHA256(secret, "{t}.{body}"); deliveries older than the tolerance are refused.
/// </summary>
public sealed class EmailEventsWebhook(IOptions<EmailWebhookOptions> options, TimeProvider time) : IWebhookProvider
{
    public const string ProviderName = "email";
    public const string SignatureHeader = "Sunaiva-Signature";

    public string Name => ProviderName;

    public bool IsConfigured => !string.IsNullOrEmpty(options.Value.SigningSecret);

    public int MaxBodyBytes => 64 * 1024;

    public string NotConfiguredDetail => "email provider webhooks are not configured: Email:Webhooks:SigningSecret is not set.";

    public WebhookVerification Verify(HttpRequest request, string body)
    {
        var header = request.Headers[SignatureHeader].ToString();
        var parts = header.Split(',', StringSplitOptions.TrimEntries).Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        if (!parts.TryGetValue("t", out var t) || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || !parts.TryGetValue("v1", out var v1))
        {
            return WebhookVerification.Reject($"The {SignatureHeader} header is missing or malformed (t=...,v1=...).");
        }

        if (Math.Abs((time.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds(seconds)).TotalSeconds) > options.Value.Tolerance.TotalSeconds)
        {
            return WebhookVerification.Reject("The signature's timestamp is outside the tolerance.");
        }

        byte[] given;
        try
        {
            given = Convert.FromHexString(v1);
        }
        catch (FormatException)
        {
            return WebhookVerification.Reject("The signature is not hexadecimal.");
        }

        if (!CryptographicOperations.FixedTimeEquals(given, Sign(options.Value.SigningSecret!, t, body)))
        {
            return WebhookVerification.Reject("The signature does not match.");
        }

        EmailProviderEvent? e;
        try
        {
            e = JsonSerializer.Deserialize<EmailProviderEvent>(body, EventJson.Options);
        }
        catch (JsonException)
        {
            e = null;
        }

        return e is { Id.Length: > 0 and <= 200, Type.Length: > 0, Email.Length: > 0 }
            ? WebhookVerification.Accept(new WebhookDelivery(e.Id, e.Type, e.MessageId, null, null, e.OccurredAt, e.Email.ToLowerInvariant(), body))
            : WebhookVerification.Reject("The body is not an email event {id, type, email, bounceType?, messageId?, occurredAt?}.");
    }

    public static byte[] Sign(string secret, string timestamp, string body) =>
        HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{body}"));
}
