using System.Diagnostics;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Billing.Webhooks;

/// <summary>
/// Handles one Stripe event type. Called with no transaction open: re-read the object from Stripe, then record what
/// it means with <see cref="WorkContext.CommitAsync"/> (one short transaction that also finishes the event).
/// </summary>
public interface IStripeEventHandler
{
    IReadOnlyCollection<string> Types { get; }

    Task HandleAsync(StripeEventEnvelope stripeEvent, WorkContext work, CancellationToken cancellationToken);
}

/// <summary>Dispatches stored Stripe deliveries (work kind <c>webhook:stripe</c>) to the handler of their type.</summary>
public sealed class StripeEventProcessor : IWebhookProcessor
{
    private readonly Dictionary<string, IStripeEventHandler> _handlers;

    public StripeEventProcessor(IEnumerable<IStripeEventHandler> handlers) =>
        _handlers = handlers.SelectMany(h => h.Types.Select(t => (t, h))).ToDictionary(x => x.t, x => x.h, StringComparer.Ordinal);

    public string Provider => StripeWebhookProvider.ProviderName;

    public IReadOnlyCollection<string> HandledTypes => _handlers.Keys;

    public bool Handles(string type) => _handlers.ContainsKey(type);

    /// <summary>Runs before an event's handler (a seam for crash tests).</summary>
    internal Func<StripeEventEnvelope, CancellationToken, Task>? BeforeHandle { get; set; }

    public async Task ProcessAsync(WebhookEnvelope envelope, WorkContext work, CancellationToken cancellationToken)
    {
        var stripeEvent = new StripeEventEnvelope(envelope.Id, envelope.Type, envelope.ApiVersion, envelope.Account, envelope.ObjectId,
            envelope.Created ?? envelope.ReceivedAt, envelope.Payload);
        if (!_handlers.TryGetValue(envelope.Type, out var handler))
        {
            await work.IgnoreAsync("no handler for this event type", cancellationToken);
            BillingTelemetry.EventsProcessed.Add(1, new KeyValuePair<string, object?>("outcome", "ignored"));
            return;
        }

        using var activity = BillingTelemetry.Source.StartActivity("stripe.event " + envelope.Type, ActivityKind.Internal);
        activity?.SetTag("stripe.event_id", envelope.Id);
        if (BeforeHandle is { } hook)
        {
            await hook(stripeEvent, cancellationToken);
        }

        await handler.HandleAsync(stripeEvent, work, cancellationToken);
        BillingTelemetry.EventsProcessed.Add(1, new KeyValuePair<string, object?>("outcome", "done"));
    }
}
