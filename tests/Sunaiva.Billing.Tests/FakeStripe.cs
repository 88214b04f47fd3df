using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Sunaiva.Billing.Tests;

/// <summary>One request Stripe.net made: method, path, form fields and the idempotency key.</summary>
public sealed record StripeRequest(string Method, string Path, IReadOnlyDictionary<string, string> Form, string? IdempotencyKey, string? StripeAccount);

/// <summary>
/// Stripe stand-in on 127.0.0.1 (random port). Objects are Stripe's own fixtures (<see cref="Sunaiva.Testing.StripeFixtures"/>)
/// with ids and fields set per test; idempotency keys replay the first answer, as Stripe does.
/// </summary>
public sealed class FakeStripe : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, JsonObject> _objects = new();
    private readonly ConcurrentDictionary<string, (int Status, string Body, DateTimeOffset At)> _idempotent = new();
    private readonly ConcurrentQueue<StripeRequest> _requests = new();
    private readonly ConcurrentQueue<JsonObject> _events = new();
    private int _sequence;

    private FakeStripe(WebApplication app) => _app = app;

    public string BaseUrl { get; private set; } = string.Empty;

    public IReadOnlyList<StripeRequest> Requests => _requests.ToList();

    /// <summary>Paths that answer 500 (a Stripe outage), to prove what retries what.</summary>
    public ConcurrentDictionary<string, bool> FailingPaths { get; } = new();

    /// <summary>Destinations whose transfers Stripe refuses (e.g. the platform balance is short).</summary>
    public ConcurrentDictionary<string, string> FailingDestinations { get; } = new();

    /// <summary>
    /// Paths whose requests Stripe carries out but whose answer never arrives (the connection drops after the work is done),
    /// as with a network cut or a client timeout after Stripe committed.
    /// </summary>
    public ConcurrentDictionary<string, bool> LostResponses { get; } = new();

    /// <summary>Paths Stripe refuses with this error object (type, code, param, message), as the real API shapes it.</summary>
    public ConcurrentDictionary<string, (int Status, string Type, string? Code, string? Param, string Message)> Refusals { get; } = new();

    /// <summary>Stripe's clock: idempotency keys are forgotten 24 hours after first use (Stripe keeps them that long only).</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>The values of Checkout's <c>locale</c> enum, compared case-sensitively as Stripe does.</summary>
    public static readonly IReadOnlySet<string> CheckoutLocales = new HashSet<string>(StringComparer.Ordinal)
    {
        "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hr", "hu", "id", "it", "ja",
        "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
    };

    public static async Task<FakeStripe> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeStripe(app);
        app.Run(fake.HandleAsync);
        await app.StartAsync();
        fake.BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return fake;
    }

    public static JsonObject Fixture(string name) => Sunaiva.Testing.StripeFixtures.Get(name);

    public string NewId(string prefix) => $"{prefix}_test{Interlocked.Increment(ref _sequence):D6}{Guid.NewGuid().ToString("N")[..8]}";

    public JsonObject Put(JsonObject obj)
    {
        _objects[(string)obj["id"]!] = obj;
        return obj;
    }

    public JsonObject Get(string id) => _objects[id];

    public bool Has(string id) => _objects.ContainsKey(id);

    /// <summary>The objects of one Stripe type the fake holds (e.g. every transfer Stripe made).</summary>
    public IReadOnlyList<JsonObject> ObjectsOf(string type) => _objects.Values.Where(o => (string?)o["object"] == type).ToList();

    public void Remove(string id) => _objects.TryRemove(id, out _);

    /// <summary>Adds an event to what GET /v1/events lists.</summary>
    public void Publish(JsonObject stripeEvent) => _events.Enqueue(stripeEvent);

    public IReadOnlyList<StripeRequest> RequestsTo(string method, string pathPrefix) =>
        Requests.Where(r => r.Method == method && r.Path.StartsWith(pathPrefix, StringComparison.Ordinal)).ToList();

    private async Task HandleAsync(HttpContext http)
    {
        var request = http.Request;
        var form = new Dictionary<string, string>(StringComparer.Ordinal);
        if (request.HasFormContentType)
        {
            foreach (var (key, value) in await request.ReadFormAsync())
            {
                form[key] = value.ToString();
            }
        }

        foreach (var (key, value) in request.Query)
        {
            form[key] = value.ToString();
        }

        var idempotencyKey = request.Headers["Idempotency-Key"].FirstOrDefault();
        var recorded = new StripeRequest(request.Method, request.Path.Value!, form, idempotencyKey, request.Headers["Stripe-Account"].FirstOrDefault());
        _requests.Enqueue(recorded);

        (int Status, string Body) answer;
        if (FailingPaths.ContainsKey(recorded.Path))
        {
            answer = Error(500, "api_error", "internal", "Stripe is having a bad day.");
        }
        else if (Refusals.TryGetValue(recorded.Path, out var refusal))
        {
            answer = Error(refusal.Status, refusal.Type, refusal.Code, refusal.Message, refusal.Param);
        }
        else if (request.Method == "POST" && idempotencyKey is not null)
        {
            var now = Clock.GetUtcNow();
            var stored = _idempotent.AddOrUpdate(
                request.Path + "|" + idempotencyKey,
                _ => Stamp(Answer(recorded), now),
                (_, previous) => now - previous.At < TimeSpan.FromHours(24) ? previous : Stamp(Answer(recorded), now));
            answer = (stored.Status, stored.Body);
        }
        else
        {
            answer = Answer(recorded);
        }

        if (LostResponses.ContainsKey(recorded.Path))
        {
            // The work is done; the client never hears of it.
            http.Abort();
            return;
        }

        http.Response.StatusCode = answer.Status;
        http.Response.ContentType = "application/json";
        http.Response.Headers["Request-Id"] = "req_" + Guid.NewGuid().ToString("N")[..14];
        await http.Response.WriteAsync(answer.Body);
    }

    private static (int, string, DateTimeOffset) Stamp((int Status, string Body) answer, DateTimeOffset at) => (answer.Status, answer.Body, at);

    private (int, string) Answer(StripeRequest r)
    {
        var segments = r.Path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        try
        {
            return (r.Method, segments) switch
            {
                ("POST", ["v1", "customers"]) => Ok(Put(Customer(r))),
                ("POST", ["v1", "customers", var id]) => Ok(UpdateMetadata(id, r)),
                ("POST", ["v1", "checkout", "sessions"]) => Ok(Put(CheckoutSession(r))),
                ("POST", ["v1", "billing_portal", "sessions"]) => Ok(PortalSession(r)),
                ("POST", ["v1", "accounts"]) => Ok(Put(Account(r))),
                ("POST", ["v1", "account_links"]) => Ok(AccountLink(r)),
                ("POST", ["v1", "transfers"]) => Transfer(r),
                ("GET", ["v1", "transfers"]) => Ok(TransferList(r)),
                ("GET", ["v1", "customers", var id]) => Ok(CustomerWithExpansions(id, r)),
                ("GET", ["v1", "events"]) => Ok(EventList(r)),
                ("GET", ["v1", "checkout", "sessions", var id]) => Lookup(id),
                ("GET", ["v1", _, var id]) => Lookup(id),
                _ => Error(404, "invalid_request_error", "resource_missing", $"Unrecognized request URL ({r.Method}: {r.Path})."),
            };
        }
        catch (KeyNotFoundException)
        {
            return Error(404, "invalid_request_error", "resource_missing", "No such object.");
        }
        catch (StripeRefusal refusal)
        {
            return Error(refusal.Status, refusal.Type, refusal.Code, refusal.Message, refusal.Param);
        }
    }

    private (int, string) Lookup(string id) =>
        _objects.TryGetValue(id, out var obj) ? Ok(obj) : Error(404, "invalid_request_error", "resource_missing", $"No such object: '{id}'");

    private static (int, string) Ok(JsonNode node) => (200, node.ToJsonString());

    private static (int, string) Error(int status, string type, string? code, string message, string? param = null)
    {
        var error = new JsonObject { ["type"] = type, ["message"] = message };
        if (code is not null)
        {
            error["code"] = code;
        }

        if (param is not null)
        {
            error["param"] = param;
        }

        return (status, new JsonObject { ["error"] = error }.ToJsonString());
    }

    /// <summary>The transfers Stripe lists for GET /v1/transfers, filtered by destination and transfer_group, newest first.</summary>
    private JsonObject TransferList(StripeRequest r)
    {
        var data = new JsonArray();
        foreach (var transfer in _objects.Values.Where(o => (string?)o["object"] == "transfer").OrderByDescending(o => (long)o["created"]!))
        {
            if ((!r.Form.TryGetValue("destination", out var destination) || (string?)transfer["destination"] == destination)
                && (!r.Form.TryGetValue("transfer_group", out var group) || (string?)transfer["transfer_group"] == group))
            {
                data.Add(transfer.DeepClone());
            }
        }

        return new JsonObject { ["object"] = "list", ["data"] = data, ["has_more"] = false, ["url"] = "/v1/transfers" };
    }

    /// <summary>GET /v1/customers/{id}; <c>expand[]=subscriptions</c> adds the customer's subscriptions, as Stripe does.</summary>
    private JsonObject CustomerWithExpansions(string id, StripeRequest r)
    {
        var customer = _objects[id].DeepClone().AsObject();
        if (r.Form.Any(f => f.Key.StartsWith("expand", StringComparison.Ordinal) && f.Value == "subscriptions"))
        {
            var subscriptions = new JsonArray();
            foreach (var subscription in _objects.Values.Where(o => (string?)o["object"] == "subscription" && (string?)o["customer"] == id && (string?)o["status"] != "canceled"))
            {
                subscriptions.Add(subscription.DeepClone());
            }

            customer["subscriptions"] = new JsonObject { ["object"] = "list", ["data"] = subscriptions, ["has_more"] = false, ["url"] = $"/v1/customers/{id}/subscriptions" };
        }

        return customer;
    }

    private JsonObject Customer(StripeRequest r)
    {
        var customer = Fixture("customer");
        customer["id"] = NewId("cus");
        customer["metadata"] = Metadata(r.Form);
        customer["discount"] = null;
        customer["created"] = Clock.GetUtcNow().ToUnixTimeSeconds();

        // A new customer has no currency until its first subscription or invoice fixes it.
        customer["currency"] = null;
        return customer;
    }

    private JsonObject UpdateMetadata(string id, StripeRequest r)
    {
        var obj = _objects[id];
        var metadata = obj["metadata"]?.AsObject() ?? [];
        foreach (var (key, value) in Metadata(r.Form))
        {
            metadata[key] = value?.DeepClone();
        }

        obj["metadata"] = metadata.DeepClone();
        return obj;
    }

    private JsonObject CheckoutSession(StripeRequest r)
    {
        if (r.Form.TryGetValue("locale", out var locale) && !CheckoutLocales.Contains(locale))
        {
            throw new StripeRefusal(400, "invalid_request_error", null, "locale", "Invalid locale: must be one of " + string.Join(", ", CheckoutLocales));
        }

        if (r.Form.TryGetValue("customer", out var customerId) && _objects.TryGetValue(customerId, out var owner)
            && (string?)owner["currency"] is { } fixedCurrency && r.Form.GetValueOrDefault("currency") is { } asked && asked != fixedCurrency)
        {
            // Stripe refuses mixing currencies on one customer.
            throw new StripeRefusal(400, "invalid_request_error", null, "currency",
                $"You cannot combine currencies on a single customer. This customer has had a subscription or payment in {fixedCurrency}, but you are trying to pay in {asked}.");
        }

        var session = Fixture("checkout.session");
        var id = NewId("cs_test");
        session["id"] = id;
        session["mode"] = r.Form.GetValueOrDefault("mode");
        session["customer"] = r.Form.GetValueOrDefault("customer");
        session["currency"] = r.Form.GetValueOrDefault("currency");
        session["locale"] = r.Form.GetValueOrDefault("locale");
        session["client_reference_id"] = r.Form.GetValueOrDefault("client_reference_id");
        session["allow_promotion_codes"] = r.Form.GetValueOrDefault("allow_promotion_codes") == "true";
        session["payment_intent"] = null;
        session["metadata"] = Metadata(r.Form);
        session["url"] = "https://checkout.stripe.com/c/pay/" + id;
        return session;
    }

    private JsonObject PortalSession(StripeRequest r)
    {
        var session = Fixture("billing_portal.session");
        session["id"] = NewId("bps");
        session["customer"] = r.Form.GetValueOrDefault("customer");
        session["return_url"] = r.Form.GetValueOrDefault("return_url");
        session["url"] = "https://billing.stripe.com/p/session/" + session["id"];
        return session;
    }

    private JsonObject Account(StripeRequest r)
    {
        var account = Fixture("account");
        account["id"] = NewId("acct");
        account["type"] = r.Form.GetValueOrDefault("type");
        account["country"] = r.Form.GetValueOrDefault("country");
        account["email"] = r.Form.GetValueOrDefault("email");
        account["metadata"] = Metadata(r.Form);
        account["payouts_enabled"] = false;
        account["tos_acceptance"] = new JsonObject { ["date"] = null, ["ip"] = null, ["user_agent"] = null };
        if (r.Form.TryGetValue("tos_acceptance[service_agreement]", out var agreement))
        {
            account["tos_acceptance"]!["service_agreement"] = agreement;
        }

        var capabilities = new JsonObject();
        foreach (var (key, _) in r.Form.Where(f => f.Key.StartsWith("capabilities[", StringComparison.Ordinal) && f.Value == "true"))
        {
            capabilities[key["capabilities[".Length..key.IndexOf(']', StringComparison.Ordinal)]] = "inactive";
        }

        account["capabilities"] = capabilities;
        return account;
    }

    private static JsonObject AccountLink(StripeRequest r)
    {
        var link = Fixture("account_link");
        link["url"] = $"https://connect.stripe.com/setup/e/{r.Form.GetValueOrDefault("account")}/onboarding";
        return link;
    }

    private (int, string) Transfer(StripeRequest r)
    {
        var destination = r.Form.GetValueOrDefault("destination") ?? string.Empty;
        if (FailingDestinations.TryGetValue(destination, out var code))
        {
            return Error(400, "invalid_request_error", code, "The transfer could not be made.");
        }

        var transfer = Fixture("transfer");
        transfer["id"] = NewId("tr");
        transfer["amount"] = long.Parse(r.Form["amount"], System.Globalization.CultureInfo.InvariantCulture);
        transfer["currency"] = r.Form.GetValueOrDefault("currency");
        transfer["destination"] = destination;
        transfer["transfer_group"] = r.Form.GetValueOrDefault("transfer_group");
        transfer["metadata"] = Metadata(r.Form);
        transfer["created"] = Clock.GetUtcNow().ToUnixTimeSeconds();
        return Ok(Put(transfer));
    }

    private JsonObject EventList(StripeRequest r)
    {
        long? gte = r.Form.TryGetValue("created[gte]", out var g) ? long.Parse(g, System.Globalization.CultureInfo.InvariantCulture) : null;
        long? lte = r.Form.TryGetValue("created[lte]", out var l) ? long.Parse(l, System.Globalization.CultureInfo.InvariantCulture) : null;
        var data = new JsonArray();
        foreach (var e in _events.OrderByDescending(e => (long)e["created"]!))
        {
            var created = (long)e["created"]!;
            // Events of a connected account are listed with its Stripe-Account header only; the platform's without one.
            var ofAccount = string.Equals((string?)e["account"], r.StripeAccount, StringComparison.Ordinal);
            if (ofAccount && (gte is null || created >= gte) && (lte is null || created <= lte))
            {
                data.Add(e.DeepClone());
            }
        }

        return new JsonObject { ["object"] = "list", ["data"] = data, ["has_more"] = false, ["url"] = "/v1/events" };
    }

    private static JsonObject Metadata(IReadOnlyDictionary<string, string> form)
    {
        var metadata = new JsonObject();
        foreach (var (key, value) in form)
        {
            if (key.StartsWith("metadata[", StringComparison.Ordinal))
            {
                metadata[key["metadata[".Length..^1]] = value;
            }
        }

        return metadata;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>An error the fake answers with Stripe's error shape.</summary>
internal sealed class StripeRefusal(int status, string type, string? code, string? param, string message) : Exception(message)
{
    public int Status { get; } = status;

    public string Type { get; } = type;

    public string? Code { get; } = code;

    public string? Param { get; } = param;
}
