using System.IO.Pipelines;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Messaging.Webhooks;

/// <summary>What a provider gets back for an accepted delivery.</summary>
public sealed record WebhookAck(string Id, bool Duplicate);

/// <summary><c>POST /webhooks/{provider}</c>: verify by the provider's scheme, store once, acknowledge; processing is durable work.</summary>
public static partial class WebhookInboxApi
{
    public static RouteHandlerBuilder MapWebhookInbox(this IEndpointRouteBuilder app)
    {
        var endpoint = app.MapPost("/webhooks/{provider}", ReceiveAsync)
            .AllowAnonymous()
            .DisableAntiforgery()
            .WithTags("Webhooks")
            .WithName("ReceiveWebhook")
            .Accepts<System.Text.Json.JsonElement>("application/json")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge, StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Provider webhook (stripe, ...): verify the provider's signature, store the delivery once, acknowledge")
            .WithDescription("Each provider authenticates by its own signature header (Stripe: Stripe-Signature). Processing is durable work afterwards; "
                + "a duplicate delivery answers 200 with duplicate: true; an unknown provider answers 404.");

        // Nothing after routing applies to a delivery (it is anonymous, signed, and exempt from rate limits): it runs as soon
        // as it is routed, skipping authentication, rate limiting and authorization (a tenth of Billing's CPU per ack,
        // bench/Sunaiva.Bench.Billing --probe). Hardening (body limits), the exception handler (503 on an outage) and
        // status pages run before routing (MapDefaultEndpoints), so they still do.
        endpoint.ShortCircuit();
        return endpoint;
    }

    private static async Task<Results<Ok<WebhookAck>, ProblemHttpResult>> ReceiveAsync(
        string provider,
        HttpRequest request,
        IEnumerable<IWebhookProvider> providers,
        WebhookInbox inbox,
        ILoggerFactory loggers,
        CancellationToken ct)
    {
        var source = providers.FirstOrDefault(p => string.Equals(p.Name, provider, StringComparison.Ordinal));
        if (source is null)
        {
            return TypedResults.Problem(statusCode: 404, title: "Unknown webhook provider", detail: "No provider delivers webhooks at this address.");
        }

        if (!source.IsConfigured)
        {
            request.HttpContext.Response.Headers.RetryAfter = "300";
            return TypedResults.Problem(statusCode: 503, title: $"{source.Name} webhooks are not configured", detail: source.NotConfiguredDetail);
        }

        if (request.ContentLength > source.MaxBodyBytes)
        {
            return TooLarge(source);
        }

        // Also bounds chunked bodies that declare no length: reading past the limit fails and answers 413 below.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = source.MaxBodyBytes;
        }

        string body;
        try
        {
            body = await ReadBodyAsync(request.BodyReader, ct);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(source);
        }

        var verification = source.Verify(request, body);
        if (verification.Delivery is not { } delivery)
        {
            LogRejected(loggers.CreateLogger("Sunaiva.Webhooks"), source.Name, verification.RejectedBecause ?? "rejected");
            return TypedResults.Problem(statusCode: 400, title: "Webhook rejected", detail: verification.RejectedBecause);
        }

        var result = await inbox.StoreAsync(source.Name, delivery, "webhook", ct);
        return TypedResults.Ok(new WebhookAck(delivery.Id, !result.Stored));
    }

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>
    /// The whole body as text, decoded once from Kestrel's own buffers (no stream, reader buffers or builder per delivery;
    /// malformed UTF-8 becomes U+FFFD as a reader would make it, so a signature over altered bytes never matches).
    /// </summary>
    private static async Task<string> ReadBodyAsync(PipeReader reader, CancellationToken ct)
    {
        while (true)
        {
            var read = await reader.ReadAsync(ct);
            if (read.IsCanceled)
            {
                throw new OperationCanceledException("The body read was canceled.");
            }

            if (read.IsCompleted)
            {
                // A leading UTF-8 byte order mark is dropped, as the StreamReader this replaced did.
                var text = read.Buffer;
                if (text.FirstSpan.StartsWith(Utf8Bom))
                {
                    text = text.Slice(Utf8Bom.Length);
                }

                var body = Encoding.UTF8.GetString(text);
                reader.AdvanceTo(read.Buffer.End);
                return body;
            }

            // Nothing consumed, everything examined: the next read returns once more has arrived.
            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }

    private static ProblemHttpResult TooLarge(IWebhookProvider source) =>
        TypedResults.Problem(statusCode: 413, title: "Webhook rejected", detail: $"The body is larger than {source.MaxBodyBytes} bytes.");

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Provider} webhook rejected: {Reason}")]
    private static partial void LogRejected(ILogger logger, string provider, string reason);
}
