using System.Text.Json;

namespace Sunaiva.Contracts;

/// <summary>An event between services, as carried on the <c>sunaiva.events</c> stream.</summary>
public sealed record IntegrationEvent(string Id, string Type, string Source, DateTimeOffset OccurredAt, JsonElement Data)
{
    public T DataAs<T>() => Data.Deserialize<T>(EventJson.Options) ?? throw new JsonException($"Event {Id} has no data.");
}

/// <summary>The event types services exchange.</summary>
public static class EventTypes
{
    public const string UserSignedUp = "user.signed_up";
    public const string UserActive = "user.active";
    public const string SubscriptionActivated = "subscription.activated";
    public const string SubscriptionCanceled = "subscription.canceled";
    public const string PaymentFailed = "payment.failed";
    public const string PaymentRecovered = "payment.recovered";
    public const string CommissionEarned = "commission.earned";

    /// <summary>A refund or lost dispute took back (part of) a commission; consumed by Engagement, not published by Billing yet.</summary>
    public const string CommissionClawedBack = "commission.clawed_back";

    public const string PayoutSent = "payout.sent";
    public const string PayoutFailed = "payout.failed";
    public const string VideoReady = "video.ready";
    public const string VideoFailed = "video.failed";
    public const string FileIndexed = "file.indexed";
    public const string VoiceSessionEnded = "voice.session.ended";
}

/// <summary>The data of <c>user.signed_up</c>, as the conversation backend sends it.</summary>
public sealed record UserSignedUp(
    string Id,
    string Email,
    string? Name,
    string? Language,
    string? Country,
    IReadOnlyList<string>? Goals,
    string? Voice,
    string? ReferralCode);

/// <summary>The data of <c>user.active</c>.</summary>
public sealed record UserActive(string Id, DateTimeOffset? At);

public static class EventJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);
}
