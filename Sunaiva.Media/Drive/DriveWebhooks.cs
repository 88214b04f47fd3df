using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Drive;

/// <summary>
/// Drive push notifications for <c>changes.watch</c> channels at <c>POST /webhooks/google-drive</c>
/// (https://developers.google.com/workspace/drive/api/guides/push). Google signs nothing: a delivery is authentic when its
/// <c>X-Goog-Channel-Token</c> is the token we minted for its <c>X-Goog-Channel-ID</c> (Data Protection: only we can make one).
/// The body is empty; the delivery id is channel id + message number, so Google's redeliveries are stored once.
/// </summary>
public sealed class DriveWebhookProvider(IDataProtectionProvider protection, IOptions<DriveOptions> options) : IWebhookProvider
{
    public const string ProviderName = "google-drive";

    private readonly IDataProtector _tokens = DriveSyncWork.ChannelTokens(protection);

    public string Name => ProviderName;

    public bool IsConfigured => options.Value.IsConfigured;

    public int MaxBodyBytes => 16 * 1024;

    public string NotConfiguredDetail => "Google Drive is not configured: Drive:ClientId and Drive:ClientSecret are not set.";

    public WebhookVerification Verify(HttpRequest request, string body)
    {
        var channelId = request.Headers["X-Goog-Channel-ID"].ToString();
        var token = request.Headers["X-Goog-Channel-Token"].ToString();
        var state = request.Headers["X-Goog-Resource-State"].ToString();
        var number = request.Headers["X-Goog-Message-Number"].ToString();
        if (channelId.Length is 0 or > 64 || token.Length == 0 || state.Length == 0 || !long.TryParse(number, out _))
        {
            return WebhookVerification.Reject("The X-Goog-Channel-ID, X-Goog-Channel-Token, X-Goog-Resource-State or X-Goog-Message-Number header is missing.");
        }

        string minted;
        try
        {
            minted = _tokens.Unprotect(token);
        }
        catch (CryptographicException)
        {
            return WebhookVerification.Reject("The channel token is not one this service issued.");
        }

        if (!CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(minted), System.Text.Encoding.UTF8.GetBytes(channelId)))
        {
            return WebhookVerification.Reject("The channel token belongs to another channel.");
        }

        var payload = JsonSerializer.Serialize(new DriveNotification(channelId, state, number, request.Headers["X-Goog-Resource-ID"].ToString()));
        return WebhookVerification.Accept(new WebhookDelivery($"{channelId}:{number}", state, channelId, null, null, null, channelId, payload));
    }
}

/// <summary>The headers of a Drive notification, as stored in the inbox.</summary>
public sealed record DriveNotification(string ChannelId, string ResourceState, string MessageNumber, string? ResourceId);

/// <summary>A <c>change</c> notification reads that user's changes feed now (durable <c>drive.sync</c>); <c>sync</c> (channel opened) does nothing.</summary>
public sealed class DriveWebhookProcessor(DriveConnectionStore connections, WorkQueue queue) : IWebhookProcessor
{
    public string Provider => DriveWebhookProvider.ProviderName;

    public async Task ProcessAsync(WebhookEnvelope envelope, WorkContext work, CancellationToken cancellationToken)
    {
        var notification = JsonSerializer.Deserialize<DriveNotification>(envelope.Payload) ?? throw new PermanentWorkFailureException("unreadable Drive notification");
        if (notification.ResourceState == "sync")
        {
            await work.IgnoreAsync("channel opened", cancellationToken);
            return;
        }

        // A channel of a disconnected user (or one replaced since) belongs to no one: nothing to read.
        if (await connections.UserOfChannelAsync(notification.ChannelId, cancellationToken) is not { } userId)
        {
            await work.IgnoreAsync("unknown channel", cancellationToken);
            return;
        }

        await work.CommitAsync((c, tx, ct) => queue.EnqueueAsync(c, tx, DriveSyncWork.Now(userId, $"push:{notification.ChannelId}:{notification.MessageNumber}"), ct), cancellationToken);
    }
}
