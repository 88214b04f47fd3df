using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace Sunaiva.Engagement.Email;

/// <summary>What an unsubscribe token names.</summary>
public sealed record UnsubscribeClaim(string UserId, string Category);

/// <summary>What a click token names: the message it was in and the only place it may redirect to.</summary>
public sealed record ClickClaim(string MessageId, string Url);

/// <summary>
/// Signed tokens in email links (HMAC-SHA256 with <c>Email:SigningKey</c>): <c>base64url(json).base64url(mac)</c>, the MAC
/// covering a purpose prefix so a token of one kind is never accepted as another. Nothing is stored to check them.
/// </summary>
public sealed class EmailTokens(IOptions<EmailOptions> options)
{
    private const string Unsubscribe = "unsubscribe";
    private const string Open = "open";
    private const string Click = "click";

    private byte[] Key => Encoding.UTF8.GetBytes(options.Value.SigningKey);

    public string ForUnsubscribe(string userId, string category) => Sign(Unsubscribe, new[] { userId, category });

    public string ForOpen(string messageId) => Sign(Open, new[] { messageId });

    public string ForClick(string messageId, string url) => Sign(Click, new[] { messageId, url });

    public UnsubscribeClaim? ReadUnsubscribe(string? token) => Read(Unsubscribe, token, 2) is { } v ? new UnsubscribeClaim(v[0], v[1]) : null;

    public string? ReadOpen(string? token) => Read(Open, token, 1)?[0];

    public ClickClaim? ReadClick(string? token) => Read(Click, token, 2) is { } v ? new ClickClaim(v[0], v[1]) : null;

    private string Sign(string purpose, string[] values)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(values);
        return WebEncoders.Base64UrlEncode(payload) + "." + WebEncoders.Base64UrlEncode(Mac(purpose, payload));
    }

    private string[]? Read(string purpose, string? token, int count)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 4096)
        {
            return null;
        }

        var dot = token.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0)
        {
            return null;
        }

        try
        {
            var payload = WebEncoders.Base64UrlDecode(token[..dot]);
            var mac = WebEncoders.Base64UrlDecode(token[(dot + 1)..]);
            if (!CryptographicOperations.FixedTimeEquals(mac, Mac(purpose, payload)))
            {
                return null;
            }

            var values = JsonSerializer.Deserialize<string[]>(payload);
            return values is { Length: var n } && n == count && values.All(v => !string.IsNullOrEmpty(v)) ? values : null;
        }
        catch (FormatException)
        {
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private byte[] Mac(string purpose, byte[] payload)
    {
        var input = new byte[purpose.Length + 1 + payload.Length];
        Encoding.ASCII.GetBytes(purpose, input);
        input[purpose.Length] = (byte)'|';
        payload.CopyTo(input, purpose.Length + 1);
        return HMACSHA256.HashData(Key, input);
    }
}
