using System.Text;
using System.Text.Json;

namespace Sunaiva.Billing.Webhooks;

/// <summary>A verified Stripe event as the inbox holds it.</summary>
public sealed record StripeEventEnvelope(string Id, string Type, string? ApiVersion, string? Account, string? ObjectId, DateTime Created, string Payload)
{
    /// <summary>Reads the few fields the inbox needs straight from the JSON, whatever the event's API version.</summary>
    public static StripeEventEnvelope? TryParse(string payload) => TryParse(payload, out _);

    /// <summary>As <see cref="TryParse(string)"/>, also giving the Stripe customer the object belongs to (the processing partition).</summary>
    public static StripeEventEnvelope? TryParse(string payload, out string? customer) =>
        TryParse(Encoding.UTF8.GetBytes(payload), payload, out customer);

    /// <summary>
    /// As <see cref="TryParse(string, out string?)"/> over the payload's UTF-8 bytes: one forward pass of a
    /// <see cref="Utf8JsonReader"/> (no document is built; every ack reads its event), which still checks that the whole
    /// body is one well-formed JSON object. A property given twice counts by its last value, as <see cref="JsonDocument"/>'s lookup.
    /// </summary>
    public static StripeEventEnvelope? TryParse(ReadOnlySpan<byte> utf8, string payload, out string? customer)
    {
        customer = null;
        string? id = null, type = null, apiVersion = null, account = null;
        long? created = null;
        var hasObject = false;
        string? objectId = null, objectCustomer = null, objectKind = null;
        try
        {
            var reader = new Utf8JsonReader(utf8);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("id"u8))
                {
                    id = ReadString(ref reader);
                }
                else if (reader.ValueTextEquals("type"u8))
                {
                    type = ReadString(ref reader);
                }
                else if (reader.ValueTextEquals("api_version"u8))
                {
                    apiVersion = ReadString(ref reader);
                }
                else if (reader.ValueTextEquals("account"u8))
                {
                    account = ReadString(ref reader);
                }
                else if (reader.ValueTextEquals("created"u8))
                {
                    reader.Read();
                    created = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var seconds) ? seconds : null;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("data"u8))
                {
                    reader.Read();
                    hasObject = false;
                    objectId = objectCustomer = objectKind = null;
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }

                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        if (!reader.ValueTextEquals("object"u8))
                        {
                            reader.Read();
                            reader.Skip();
                            continue;
                        }

                        reader.Read();
                        hasObject = reader.TokenType == JsonTokenType.StartObject;
                        objectId = objectCustomer = objectKind = null;
                        if (!hasObject)
                        {
                            reader.Skip();
                            continue;
                        }

                        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                        {
                            if (reader.ValueTextEquals("id"u8))
                            {
                                objectId = ReadString(ref reader);
                            }
                            else if (reader.ValueTextEquals("customer"u8))
                            {
                                objectCustomer = ReadString(ref reader);
                            }
                            else if (reader.ValueTextEquals("object"u8))
                            {
                                objectKind = ReadString(ref reader);
                            }
                            else
                            {
                                reader.Read();
                                reader.Skip();
                            }
                        }
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            // The root object has ended: anything after it but white space is not JSON.
            if (reader.Read())
            {
                return null;
            }
        }
        catch (JsonException)
        {
            return null;
        }

        if (id is null || type is null || created is not { } createdSeconds || !hasObject
            || createdSeconds < UnixSecondsMin || createdSeconds > UnixSecondsMax)
        {
            return null;
        }

        customer = objectCustomer ?? (objectKind == "customer" ? objectId : null);
        return new StripeEventEnvelope(id, type, apiVersion, account, objectId, DateTimeOffset.FromUnixTimeSeconds(createdSeconds).UtcDateTime, payload);
    }

    private const long UnixSecondsMin = -62_135_596_800;
    private const long UnixSecondsMax = 253_402_300_799;

    /// <summary>Reads the value after a property name: its text when a string, null otherwise (skipped whole).</summary>
    private static string? ReadString(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString();
        }

        reader.Skip();
        return null;
    }
}
