using Sunaiva.Integration;

namespace Sunaiva.Voice.Realtime;

/// <summary>What to ask the realtime provider for: a short-lived client secret for one session.</summary>
public sealed record RealtimeSecretRequest(string Model, string Voice, string Instructions, string TurnDetection, int SecretSeconds);

/// <summary>The provider's answer: the client secret and when it stops being accepted for new sessions.</summary>
public sealed record RealtimeSecret(string Value, DateTimeOffset ExpiresAt, string Model);

/// <summary>A provider of realtime voice sessions that the client joins directly (capability <c>realtime</c>).</summary>
public interface IRealtimeAdapter : IProviderAdapter
{
    ValueTask<RealtimeSecret> CreateClientSecretAsync(RealtimeSecretRequest request, CancellationToken cancellationToken);
}
