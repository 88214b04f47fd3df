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
    private readonly ConcurrentDictionary<string, (int Status, string Body)> _idempotent = new();
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
        else if (request.Method == "POST" && idempotencyKey is not null)
        {
            answer = _idempotent.GetOrAdd(request.Path + "|" + idempotencyKey, _ => Answer(recorded));
        }
        else
        {
            answer = Answer(recorded);
        }

        http.Response.StatusCode = answer.Status;
        http.Response.ContentType = "application/json";
        http.Response.Headers["Request-Id"] = "req_" + Guid.NewGuid().ToString("N")[..14];
        await http.Response.WriteAsync(answer.Body);
    }

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
    }

    private (int, string) Lookup(string id) =>
        _objects.TryGetValue(id, out var obj) ? Ok(obj) : Error(404, "invalid_request_error", "resource_missing", $"No such object: '{id}'");

    private static (int, string) Ok(JsonNode node) => (200, node.ToJsonString());

    private static (int, string) Error(int status, string type, string code, string message) =>
        (status, new JsonObject { ["error"] = new JsonObject { ["type"] = type, ["code"] = code, ["message"] = message } }.ToJsonString());

    private JsonObject Customer(StripeRequest r)
    {
        var customer = Fixture("customer");
        customer["id"] = NewId("cus");
        customer["metadata"] = Metadata(r.Form);
        customer["discount"] = null;
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
            if ((gte is null || created >= gte) && (lte is null || created <= lte))
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
