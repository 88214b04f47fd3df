using System.Text.Json;

namespace Sunaiva.Billing.Webhooks;

/// <summary>A verified Stripe event as the inbox holds it.</summary>
public sealed record StripeEventEnvelope(string Id, string Type, string? ApiVersion, string? Account, string? ObjectId, DateTime Created, string Payload)
{
    /// <summary>Reads the few fields the inbox needs straight from the JSON, whatever the event's API version.</summary>
    public static StripeEventEnvelope? TryParse(string payload) => TryParse(payload, out _);

    /// <summary>As <see cref="TryParse(string)"/>, also giving the Stripe customer the object belongs to (the processing partition).</summary>
    public static StripeEventEnvelope? TryParse(string payload, out string? customer)
    {
        customer = null;
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String
                || !root.TryGetProperty("created", out var created) || !created.TryGetInt64(out var createdSeconds)
                || !root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object
                || !data.TryGetProperty("object", out var obj) || obj.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            customer = String(obj, "customer") ?? (String(obj, "object") == "customer" ? String(obj, "id") : null);
            return new StripeEventEnvelope(
                id.GetString()!,
                type.GetString()!,
                String(root, "api_version"),
                String(root, "account"),
                String(obj, "id"),
                DateTimeOffset.FromUnixTimeSeconds(createdSeconds).UtcDateTime,
                payload);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
