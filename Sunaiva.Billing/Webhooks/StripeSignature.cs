using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Unicode;

namespace Sunaiva.Billing.Webhooks;

/// <summary>
/// Stripe's documented webhook signature scheme (https://docs.stripe.com/webhooks#verify-manually): the
/// <c>Stripe-Signature</c> header holds <c>t=&lt;unix seconds&gt;</c> and one or more <c>v1=&lt;hex HMAC-SHA256&gt;</c>
/// (several while a secret is rolled); the signed bytes are <c>"{t}." + body</c> in UTF-8, keyed by the endpoint secret;
/// the delivery is genuine when any v1 equals that HMAC and <c>t</c> lies within the tolerance of now, either way.
/// Written here instead of calling Stripe.net's <c>EventUtility.ValidateSignature</c> for performance only: that one
/// splits the header through LINQ lookups, builds the signed payload as a string, encodes it, allocates an HMAC object
/// and a hex string per delivery (a quarter of an ack's CPU in bench/Sunaiva.Bench.Billing --probe). This one hashes
/// into the stack and compares in constant time; it refuses exactly what Stripe.net refuses (an item without <c>=</c>,
/// no <c>t</c>, no matching v1, a timestamp outside the tolerance, a body that is not valid UTF-16) and also a
/// <c>t</c> that is not a number.
/// </summary>
internal static class StripeSignature
{
    private const int HashBytes = 32;

    /// <summary>Whether <paramref name="header"/> signs <paramref name="body"/> with <paramref name="secret"/> at a time within the tolerance.</summary>
    /// <param name="signedUtf8">On success, the body's UTF-8 bytes (a slice of <paramref name="buffer"/>), for parsing without encoding again.</param>
    /// <param name="buffer">Rented from <see cref="ArrayPool{T}.Shared"/> when not null; the caller returns it.</param>
    public static bool Verify(string body, ReadOnlySpan<char> header, ReadOnlySpan<byte> secret, long toleranceSeconds, long nowSeconds,
        out ReadOnlyMemory<byte> signedUtf8, out byte[]? buffer)
    {
        signedUtf8 = default;
        buffer = null;
        header = header.Trim();

        // Items are "key=value" separated by commas; Stripe.net refuses the header when any item has no '=', and uses the first t.
        ReadOnlySpan<char> timestamp = default;
        var hasTimestamp = false;
        var signatures = 0;
        foreach (var range in header.Split(','))
        {
            if (!TryItem(header[range], out var key, out var value))
            {
                return false;
            }

            if (!hasTimestamp && key.SequenceEqual("t"))
            {
                timestamp = value;
                hasTimestamp = true;
            }
            else if (key.SequenceEqual("v1"))
            {
                signatures++;
            }
        }

        if (!hasTimestamp || signatures == 0
            || !long.TryParse(timestamp, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var signedAt)
            || signedAt < nowSeconds - toleranceSeconds || signedAt > nowSeconds + toleranceSeconds)
        {
            return false;
        }

        // The signed bytes: "{t}." then the body in UTF-8 (an unpaired surrogate in the body refuses it, as Stripe.net's
        // throwing encoder does).
        buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetByteCount(timestamp) + 1 + Encoding.UTF8.GetMaxByteCount(body.Length));
        var prefix = Encoding.UTF8.GetBytes(timestamp, buffer);
        buffer[prefix++] = (byte)'.';
        if (Utf8.FromUtf16(body, buffer.AsSpan(prefix), out _, out var bodyBytes, replaceInvalidSequences: false) != OperationStatus.Done)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[HashBytes];
        HMACSHA256.HashData(secret, buffer.AsSpan(0, prefix + bodyBytes), expected);
        Span<byte> given = stackalloc byte[HashBytes];
        var match = false;
        foreach (var range in header.Split(','))
        {
            // Stripe.net compares lowercase hex strings: a signature in uppercase or of another length never matches.
            if (TryItem(header[range], out var key, out var hex) && key.SequenceEqual("v1")
                && hex.Length == HashBytes * 2 && IsLowerHex(hex)
                && Convert.FromHexString(hex, given, out _, out _) == OperationStatus.Done)
            {
                match |= CryptographicOperations.FixedTimeEquals(given, expected);
            }
        }

        signedUtf8 = buffer.AsMemory(prefix, bodyBytes);
        return match;
    }

    private static bool TryItem(ReadOnlySpan<char> item, out ReadOnlySpan<char> key, out ReadOnlySpan<char> value)
    {
        item = item.Trim();
        var equals = item.IndexOf('=');
        key = equals < 0 ? default : item[..equals];
        value = equals < 0 ? default : item[(equals + 1)..];
        return equals >= 0;
    }

    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

    private static bool IsLowerHex(ReadOnlySpan<char> hex) => !hex.ContainsAnyExcept(LowerHex);
}
