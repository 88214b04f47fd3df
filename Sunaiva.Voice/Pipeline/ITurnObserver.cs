using Sunaiva.Voice.Tts;

namespace Sunaiva.Voice.Pipeline;

/// <summary>A finished user turn: its final text and, for spoken turns, its audio (PCM16 mono, 16 kHz; empty for text turns).</summary>
public sealed record UserTurn(string SessionId, string UserId, int Turn, string Text, ReadOnlyMemory<short> Audio, int SampleRate, string Language);

/// <summary>
/// What an observer made of a user turn: an event for the client (<paramref name="EventType"/>, e.g. <c>emotion</c>, with
/// <paramref name="Payload"/> as its fields), an optional hint for the reply model and an optional speaking style for the reply.
/// </summary>
public sealed record TurnObservation(string EventType, object Payload, string? ReplyHint = null, SpeechStyle? Style = null);

/// <summary>
/// Seam called after each final user transcript, before the reply (the emotion detector plugs in here:
/// <c>services.AddSingleton&lt;ITurnObserver, EmotionTurnObserver&gt;()</c>). Observers run in registration order;
/// one that throws or exceeds its share of the turn is skipped, the turn goes on.
/// </summary>
public interface ITurnObserver
{
    ValueTask<TurnObservation?> ObserveAsync(UserTurn turn, CancellationToken cancellationToken);
}
