using Microsoft.Extensions.Options;
using Sunaiva.Billing.Checkout;
using Sunaiva.Billing.Commissions;
using Sunaiva.Billing.Infrastructure;
using Sunaiva.Billing.Influencers;
using Sunaiva.Billing.Ops;
using Sunaiva.Billing.Payouts;
using Sunaiva.Billing.Referrals;
using Sunaiva.Billing.Reports;
using Sunaiva.Billing.Subscriptions;
using Sunaiva.Billing.Webhooks;
using Sunaiva.Billing.Webhooks.Handlers;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.Messaging.Work;
using Sunaiva.ServiceDefaults.Data;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Integration;

namespace Sunaiva.Billing;

public static class Extensions
{
    public static IHostApplicationBuilder AddBillingServices(this IHostApplicationBuilder builder)
    {
        builder.AddSunaivaBackbone(ResourceNames.BillingDb, typeof(Extensions).Assembly);
        builder.Services.AddSingleton<ReferralStore>();
        builder.Services.AddEventHandler<SignupReferralHandler>();
        builder.AddStripe();
        builder.Services.AddSingleton<Sunaiva.ServiceDefaults.Ops.IProviderStatusSource, Infrastructure.StripeStatusSource>();
        return builder;
    }

    private static void AddStripe(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<StripeOptions>()
            .BindConfiguration(StripeOptions.SectionName)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<StripeOptions>, StripeOptionsValidator>();

        // Stripe.net retries itself with idempotency keys and has its own timeout: no second retry layer and no 10 s attempt timeout here.
#pragma warning disable EXTEXP0001 // RemoveAllResilienceHandlers is marked for evaluation; it is the documented way to opt one client out.
        // The Stripe client lives as long as the service, so its connections are recycled for DNS changes instead.
        services.AddHttpClient(StripeGateway.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            .RemoveAllResilienceHandlers()
            .AddProviderMetering("payments", "stripe");
#pragma warning restore EXTEXP0001
        services.AddSingleton<StripeGateway>();

        services.AddSingleton<CustomerStore>();
        services.AddSingleton<SubscriptionStore>();
        services.AddSingleton<CommissionLedger>();
        services.AddSingleton<InfluencerStore>();
        services.AddSingleton<PayoutStore>();
        services.AddSingleton<PayoutRunner>();
        services.AddHostedService<PayoutScheduler>();

        services.AddSingleton<EventRecovery>();
        services.AddWebhookProvider<StripeWebhookProvider, StripeEventProcessor>();
        // Stripe itself retries a delivery for 3 days: an event we stored is retried at least as long before it is
        // dead-lettered (5 s doubling to 1 h, 85 attempts: about 76 hours). Configuration (Work:Kinds:webhook.stripe) wins.
        services.PostConfigure<WorkOptions>(o => o.Kinds.TryAdd(
            WebhookInbox.KindOf(StripeWebhookProvider.ProviderName),
            new WorkPolicy { BaseDelay = TimeSpan.FromSeconds(5), MaxDelay = TimeSpan.FromHours(1), MaxAttempts = 85 }));

        services.AddSingleton<SubscriptionSync>();
        services.AddSingleton<InvoiceReader>();
        services.AddSingleton<PaymentFailureRecorder>();
        services.AddStripeHandler<CheckoutSessionCompletedHandler>();
        services.AddStripeHandler<SubscriptionChangedHandler>();
        services.AddStripeHandler<InvoicePaidHandler>();
        services.AddStripeHandler<InvoicePaymentFailedHandler>();
        services.AddStripeHandler<InvoicePaymentActionRequiredHandler>();
        services.AddStripeHandler<ChargeRefundedHandler>();
        services.AddStripeHandler<DisputeCreatedHandler>();
        services.AddStripeHandler<DisputeClosedHandler>();
        services.AddStripeHandler<AccountUpdatedHandler>();
        services.AddStripeHandler<TransferCreatedHandler>();
        services.AddStripeHandler<TransferReversedHandler>();
        services.AddStripeHandler<PayoutPaidHandler>();
        services.AddStripeHandler<PayoutFailedHandler>();
    }

    private static IServiceCollection AddStripeHandler<THandler>(this IServiceCollection services)
        where THandler : class, IStripeEventHandler =>
        services.AddSingleton<IStripeEventHandler, THandler>();

    public static WebApplication MapBillingApi(this WebApplication app)
    {
        app.MapReferralsApi();
        app.MapCheckoutApi();
        app.MapWebhookInbox();
        app.MapInfluencersApi();
        app.MapBillingOpsApi();
        app.MapReportsApi();
        return app;
    }
}
