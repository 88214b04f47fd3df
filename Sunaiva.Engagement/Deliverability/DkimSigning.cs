using System.Text;
using Microsoft.Extensions.Options;
using MimeKit;
using MimeKit.Cryptography;

namespace Sunaiva.Engagement.Deliverability;

/// <summary>Signs a message with DKIM (MimeKit's <see cref="DkimSigner"/>, relaxed/relaxed, rsa-sha256) when a key is configured.</summary>
public sealed class DkimSigning
{
    private static readonly HeaderId[] SignedHeaders =
        [HeaderId.From, HeaderId.To, HeaderId.Subject, HeaderId.Date, HeaderId.MessageId, HeaderId.MimeVersion, HeaderId.ContentType, HeaderId.ListUnsubscribe, HeaderId.ListUnsubscribePost];

    private readonly DkimSigner? _signer;

    public DkimSigning(IOptions<DkimOptions> options)
    {
        var o = options.Value;
        if (!o.IsConfigured)
        {
            return;
        }

        using var key = !string.IsNullOrWhiteSpace(o.PrivateKeyPem)
            ? new MemoryStream(Encoding.ASCII.GetBytes(o.PrivateKeyPem))
            : (Stream)File.OpenRead(o.PrivateKeyPath!);
        _signer = new DkimSigner(key, o.Domain!, o.Selector!)
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            AgentOrUserIdentifier = "@" + o.Domain,
        };
    }

    public bool IsEnabled => _signer is not null;

    /// <summary>Signs in place (a copy of the stored message, at send time); an already signed message is left alone.</summary>
    public void Sign(MimeMessage message)
    {
        if (_signer is null || message.Headers.Contains(HeaderId.DkimSignature))
        {
            return;
        }

        // The body must not change after signing: fix its transfer encodings first.
        message.Prepare(EncodingConstraint.SevenBit);
        _signer.Sign(message, SignedHeaders.Where(h => message.Headers.Contains(h)).ToArray());
    }
}
