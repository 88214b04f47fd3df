using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Voice.Entitlements;

/// <summary>The data of Billing's <c>subscription.activated</c> / <c>subscription.canceled</c> (Billing's SubscriptionChanged), as Voice reads it.</summary>
public sealed record SubscriptionChangedData(string SubscriptionId, string UserId, string Status, string? Plan);

/// <summary>
/// Mirrors a user's subscription from Billing's events into <c>voice_subscriptions</c>, in the event's transaction (the
/// row is the same whichever order or however often the events arrive), then drops the cached plan.
/// </summary>
public sealed class SubscriptionEntitlementHandler(EntitlementStore store) : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } = [Sunaiva.Contracts.EventTypes.SubscriptionActivated, Sunaiva.Contracts.EventTypes.SubscriptionCanceled];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var data = integrationEvent.DataAs<SubscriptionChangedData>();
        var active = integrationEvent.Type == Sunaiva.Contracts.EventTypes.SubscriptionActivated;
        await EntitlementStore.UpsertAsync(connection, transaction, data.SubscriptionId, data.UserId, data.Plan, data.Status, active, integrationEvent.OccurredAt, cancellationToken);

        // Dropped before the commit: a read in between may cache the old plan, for at most Voice:Entitlements:CacheFor.
        await store.ForgetAsync(data.UserId, cancellationToken);
    }
}
