using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Sunaiva.Billing.Infrastructure;

/// <summary>The service's one ActivitySource and Meter.</summary>
public static class BillingTelemetry
{
    public const string Name = "Sunaiva.Billing";

    public static readonly ActivitySource Source = new(Name);

    private static readonly Meter Meter = new(Name);

    public static readonly Counter<long> EventsProcessed = Meter.CreateCounter<long>("sunaiva.billing.stripe_events", description: "Stripe events processed, by outcome");

    public static readonly Counter<long> TransfersMade = Meter.CreateCounter<long>("sunaiva.billing.payout_transfers", description: "Payout transfers, by outcome");
}
