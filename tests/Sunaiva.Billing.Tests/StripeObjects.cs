using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Sunaiva.Billing.Tests;

/// <summary>Stripe objects for the tests, each built from Stripe's fixture of that type.</summary>
public static class StripeObjects
{
    public const string ApiVersion = "2026-10-28.endive";
    public const string PriceId = "price_plus_monthly";

    public static JsonObject Subscription(string id, string customerId, string status, string? userId = null, long created = 1_767_225_600)
    {
        var subscription = FakeStripe.Fixture("subscription");
        subscription["id"] = id;
        subscription["customer"] = customerId;
        subscription["status"] = status;
        subscription["created"] = created;
        subscription["cancel_at_period_end"] = false;
        subscription["ended_at"] = status == "canceled" ? created + 86_400 : null;
        subscription["canceled_at"] = status == "canceled" ? created + 86_400 : null;
        subscription["cancel_at"] = null;
        subscription["currency"] = "usd";
        subscription["metadata"] = userId is null ? new JsonObject() : new JsonObject { ["user_id"] = userId };
        var item = subscription["items"]!["data"]![0]!.AsObject();
        item["subscription"] = id;
        item["price"]!["id"] = PriceId;
        item["price"]!["unit_amount"] = 999;
        item["current_period_start"] = created;
        item["current_period_end"] = created + (30 * 86_400);
        return subscription;
    }

    /// <summary>A subscription invoice paid through a payment intent whose charge settled in USD.</summary>
    public static JsonObject Invoice(string id, string customerId, string subscriptionId, string status, long amountPaid, long tax, string currency,
        string paymentIntentId, long paidAt, int attemptCount = 1)
    {
        var invoice = FakeStripe.Fixture("invoice");
        invoice["id"] = id;
        invoice["customer"] = customerId;
        invoice["status"] = status;
        invoice["currency"] = currency;
        invoice["amount_paid"] = amountPaid;
        invoice["amount_due"] = amountPaid == 0 ? 999 : amountPaid;
        invoice["attempt_count"] = attemptCount;
        invoice["total_taxes"] = tax == 0 ? new JsonArray() : new JsonArray(new JsonObject
        {
            ["amount"] = tax,
            ["tax_behavior"] = "exclusive",
            ["taxability_reason"] = "standard_rated",
            ["taxable_amount"] = amountPaid - tax,
            ["type"] = "tax_rate_details",
            ["tax_rate_details"] = new JsonObject { ["tax_rate"] = "txr_test" },
        });
        invoice["parent"] = new JsonObject
        {
            ["type"] = "subscription_details",
            ["quote_details"] = null,
            ["subscription_details"] = new JsonObject { ["subscription"] = subscriptionId, ["metadata"] = null },
        };
        invoice["status_transitions"]!["paid_at"] = status == "paid" ? paidAt : null;
        var payment = FakeStripe.Fixture("invoice_payment");
        payment["id"] = "inpay_" + id;
        payment["invoice"] = id;
        payment["currency"] = currency;
        payment["amount_paid"] = amountPaid;
        payment["status"] = status == "paid" ? "paid" : "open";
        payment["payment"] = new JsonObject { ["type"] = "payment_intent", ["payment_intent"] = paymentIntentId };
        invoice["payments"] = new JsonObject { ["object"] = "list", ["data"] = new JsonArray(payment), ["has_more"] = false, ["url"] = "/v1/invoice_payments" };
        return invoice;
    }

    /// <summary>A payment intent with its latest charge and that charge's balance transaction expanded.</summary>
    public static (JsonObject Intent, JsonObject Charge) PaymentIntent(string id, string chargeId, string customerId, long amount, string currency, long usdAmount)
    {
        var balance = FakeStripe.Fixture("balance_transaction");
        balance["id"] = "txn_" + chargeId;
        balance["amount"] = usdAmount;
        balance["net"] = usdAmount;
        balance["currency"] = "usd";
        balance["source"] = chargeId;
        balance["exchange_rate"] = currency == "usd" ? null : (double)usdAmount / amount;
        var charge = Charge(chargeId, customerId, amount, currency, 0);
        charge["payment_intent"] = id;
        charge["balance_transaction"] = balance;
        var intent = FakeStripe.Fixture("payment_intent");
        intent["id"] = id;
        intent["amount"] = amount;
        intent["currency"] = currency;
        intent["customer"] = customerId;
        intent["status"] = "succeeded";
        intent["latest_charge"] = charge;
        return (intent, charge);
    }

    public static JsonObject Charge(string id, string customerId, long amount, string currency, long refunded)
    {
        var charge = FakeStripe.Fixture("charge");
        charge["id"] = id;
        charge["customer"] = customerId;
        charge["amount"] = amount;
        charge["amount_captured"] = amount;
        charge["currency"] = currency;
        charge["amount_refunded"] = refunded;
        charge["refunded"] = refunded >= amount;
        charge["captured"] = true;
        charge["source"] = null;
        charge["balance_transaction"] = "txn_" + id;
        return charge;
    }

    public static JsonObject Dispute(string id, string chargeId, string status)
    {
        var dispute = FakeStripe.Fixture("dispute");
        dispute["id"] = id;
        dispute["charge"] = chargeId;
        dispute["status"] = status;
        return dispute;
    }

    public static JsonObject Event(string id, string type, JsonObject data, long created, string apiVersion = ApiVersion, string? account = null)
    {
        var stripeEvent = FakeStripe.Fixture("event");
        stripeEvent["id"] = id;
        stripeEvent["type"] = type;
        stripeEvent["created"] = created;
        stripeEvent["api_version"] = apiVersion;
        stripeEvent["data"] = new JsonObject { ["object"] = data.DeepClone() };
        if (account is not null)
        {
            stripeEvent["account"] = account;
        }

        return stripeEvent;
    }

    /// <summary>Stripe's scheme: <c>t=timestamp,v1=hex(HMAC-SHA256(secret, "t.payload"))</c>.</summary>
    public static string Sign(string payload, string secret, long timestamp)
    {
        var mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp}.{payload}"));
        return $"t={timestamp},v1={Convert.ToHexStringLower(mac)}";
    }
}
