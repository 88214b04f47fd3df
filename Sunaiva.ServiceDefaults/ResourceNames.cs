namespace Sunaiva;

/// <summary>Resource, connection and parameter names shared by the AppHost and every service.</summary>
#if SUNAIVA_LINKED_NAMES
internal
#else
public
#endif
static class ResourceNames
{
    public const string Redis = "redis";
    public const string Postgres = "postgres";
    public const string Storage = "storage";
    public const string Smtp = "smtp";

    public const string Voice = "voice";
    public const string Billing = "billing";
    public const string Media = "media";
    public const string Engagement = "engagement";

    public const string VoiceDb = "voicedb";
    public const string BillingDb = "billingdb";
    public const string MediaDb = "mediadb";
    public const string EngagementDb = "engagementdb";

    public const string JwtSigningKeyParameter = "jwt-signing-key";
    public const string InternalEventsTokenParameter = "internal-events-token";

    /// <summary>HMAC key of the unsubscribe, open and click tokens in Engagement's emails.</summary>
    public const string EmailSigningKeyParameter = "email-signing-key";
    public const string PostgresPasswordParameter = "postgres-password";
    public const string StripeSecretKeyParameter = "stripe-secret-key";
    public const string StripeWebhookSecretParameter = "stripe-webhook-secret";
    public const string DriveClientIdParameter = "drive-client-id";
    public const string DriveClientSecretParameter = "drive-client-secret";

    public const string DevJwtIssuer = "sunaiva-dev";
    public const string JwtAudience = "sunaiva";

    /// <summary>Redis stream that carries integration events between services.</summary>
    public const string EventStream = "sunaiva.events";
    public const string DeadLetterStream = "sunaiva.events.dead";

    /// <summary>Fixed http ports of the services' launch profiles, so clients and scripts can name them.</summary>
    public static class Ports
    {
        public const int Voice = 5101;
        public const int Billing = 5102;
        public const int Media = 5103;
        public const int Engagement = 5104;
    }
}
