using Microsoft.Extensions.Options;
using Stripe;

namespace Sunaiva.Billing.Infrastructure;

/// <summary>
/// The one Stripe client of the service. Its HTTP client is the metered "stripe" client from the factory;
/// Stripe.net itself retries (with idempotency keys), so that client carries no resilience handler.
/// </summary>
public sealed class StripeGateway(IHttpClientFactory httpClientFactory, IOptions<StripeOptions> options)
{
    public const string HttpClientName = "stripe";

    private readonly Lazy<IStripeClient> _client = new(() => Create(httpClientFactory, options.Value));

    public bool IsConfigured => options.Value.IsConfigured;

    public bool CanVerifyWebhooks => !string.IsNullOrWhiteSpace(options.Value.WebhookSecret);

    public IStripeClient Client => IsConfigured ? _client.Value : throw new BillingNotConfiguredException();

    private static StripeClient Create(IHttpClientFactory factory, StripeOptions options)
    {
        var http = factory.CreateClient(HttpClientName);
        http.Timeout = options.RequestTimeout;
        return new StripeClient(
            apiKey: options.SecretKey,
            httpClient: new SystemNetHttpClient(http, maxNetworkRetries: options.MaxNetworkRetries, enableTelemetry: false),
            apiBase: options.ApiBase.TrimEnd('/'),
            connectBase: options.ApiBase.TrimEnd('/'),
            filesBase: options.ApiBase.TrimEnd('/'));
    }

    public static RequestOptions Idempotent(string key) => new() { IdempotencyKey = key };
}

/// <summary>Thrown when a Stripe call is attempted without a secret key.</summary>
public sealed class BillingNotConfiguredException() : InvalidOperationException("Billing is not configured.");
