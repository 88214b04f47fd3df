using Sunaiva.Messaging.Work;

namespace Sunaiva.Messaging.Webhooks;

/// <summary>Runs a provider's stored deliveries through its <see cref="IWebhookProcessor"/> (kind <c>webhook:{provider}</c>).</summary>
public sealed class WebhookWork(IWebhookProcessor processor, WebhookInbox inbox) : IWorkHandler
{
    public string Kind { get; } = WebhookInbox.KindOf(processor.Provider);

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var envelope = await inbox.ReadAsync(processor.Provider, context.Item.Payload, cancellationToken)
            ?? throw new PermanentWorkFailureException($"no stored {processor.Provider} delivery {context.Item.Payload}");
        await processor.ProcessAsync(envelope, context, cancellationToken);
    }
}
