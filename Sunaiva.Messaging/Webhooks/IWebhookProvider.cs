using Microsoft.AspNetCore.Http;

namespace Sunaiva.Messaging.Webhooks;

/// <summary>
/// A provider that calls us (Stripe, HeyGen, Google Drive, an email provider): how its deliveries are authenticated
/// and read. The inbox does the rest (size limit, store once, acknowledge, durable processing, replay).
/// </summary>
public interface IWebhookProvider
{
    /// <summary>Route segment and work kind suffix: <c>/webhooks/{Name}</c>, <c>webhook:{Name}</c>.</summary>
    string Name { get; }

    /// <summary>False when no signing secret is configured: deliveries answer 503.</summary>
    bool IsConfigured { get; }

    int MaxBodyBytes => 1024 * 1024;

    /// <summary>The 503 answer's detail while <see cref="IsConfigured"/> is false.</summary>
    string NotConfiguredDetail => $"{Name} webhooks are not configured: no signing secret is set.";

    /// <summary>Checks the signature (by the provider's scheme) and reads the delivery's identity; never throws for bad input.</summary>
    WebhookVerification Verify(HttpRequest request, string body);
}

/// <summary>The outcome of verifying one delivery.</summary>
public sealed record WebhookVerification(WebhookDelivery? Delivery, string? RejectedBecause)
{
    public static WebhookVerification Accept(WebhookDelivery delivery) => new(delivery, null);

    public static WebhookVerification Reject(string reason) => new(null, reason);
}

/// <summary>A verified delivery as the inbox stores it.</summary>
/// <param name="Id">The provider's event id (deduplication key).</param>
/// <param name="PartitionKey">Deliveries with the same key are processed one at a time (a Stripe customer).</param>
public sealed record WebhookDelivery(
    string Id,
    string Type,
    string? ObjectId,
    string? Account,
    string? ApiVersion,
    DateTimeOffset? Created,
    string? PartitionKey,
    string Payload);

/// <summary>A stored delivery handed to its processor.</summary>
public sealed record WebhookEnvelope(
    string Provider,
    string Id,
    string Type,
    string? ObjectId,
    string? Account,
    string? ApiVersion,
    DateTime? Created,
    string Payload,
    string Source,
    DateTime ReceivedAt);

/// <summary>Processes one provider's stored deliveries (dispatching by type); called through durable work, no transaction open.</summary>
public interface IWebhookProcessor
{
    string Provider { get; }

    /// <summary>
    /// Whether deliveries of this type have anything to do. A type no handler takes is stored (deduplicated, visible to
    /// ops) but gets no work item: nothing would run, and a burst of such deliveries costs only its inbox rows.
    /// </summary>
    bool Handles(string type) => true;

    Task ProcessAsync(WebhookEnvelope envelope, Work.WorkContext work, CancellationToken cancellationToken);
}
