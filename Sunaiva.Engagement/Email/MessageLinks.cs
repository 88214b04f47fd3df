using Sunaiva.Engagement.Email.Templates;

namespace Sunaiva.Engagement.Email;

/// <summary>The tracked and unsubscribe links of one message, signed with <see cref="EmailTokens"/>.</summary>
public sealed class MessageLinks(EmailOptions options, EmailTokens tokens, string messageId, string? unsubscribeUserId, string category, bool track) : IEmailLinks
{
    private readonly string _base = options.PublicBaseUrl.TrimEnd('/');

    public string Click(string target) =>
        track && Uri.TryCreate(target, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp)
            ? $"{_base}/email/c/{tokens.ForClick(messageId, target)}"
            : target;

    public string? OpenPixel => track ? $"{_base}/email/o/{tokens.ForOpen(messageId)}.gif" : null;

    public string? Unsubscribe => unsubscribeUserId is null ? null : $"{_base}/email/unsubscribe?token={tokens.ForUnsubscribe(unsubscribeUserId, category)}";

    public string? Preferences => unsubscribeUserId is null ? null : options.AppBaseUrl.TrimEnd('/') + "/settings/email";
}
