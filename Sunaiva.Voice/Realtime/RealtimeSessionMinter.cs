using Sunaiva.Voice.Catalog;
using Sunaiva.Voice.Sessions;

namespace Sunaiva.Voice.Realtime;

/// <summary>
/// <c>POST /voice/sessions</c> in mode <c>auto</c> or <c>cloud</c>: an OpenAI Realtime grant for the session (its id, so
/// <c>POST /voice/sessions/{id}/usage</c> reconciles the minutes), or the reason the session stays on the local pipeline.
/// </summary>
public sealed class RealtimeSessionMinter(RealtimeMinter minter) : IRealtimeSessionMinter
{
    public async ValueTask<(object? Connection, string? Reason)> TryMintAsync(VoiceSessionInfo session, VoiceEntry voice, CancellationToken cancellationToken)
    {
        if (!minter.Configured)
        {
            return (null, session.Mode == "cloud" ? "cloud realtime is not configured; the local pipeline serves" : null);
        }

        return await minter.MintAsync(session.UserId, new RealtimeSessionSpec(voice.Id, SessionId: session.Id), cancellationToken) switch
        {
            RealtimeMintResult.Granted granted => (granted.Grant, null),
            RealtimeMintResult.LimitReached limit => (null, $"today's {limit.LimitMinutes} cloud voice minutes are used (they come back at {limit.ResetsAt:u}); the local pipeline serves"),
            RealtimeMintResult.Unavailable unavailable => (null, $"cloud realtime is unavailable ({unavailable.Reason}); the local pipeline serves"),
            RealtimeMintResult.UnknownVoice => (null, "the voice has no cloud mapping; the local pipeline serves"),
            _ => (null, "cloud realtime is not configured; the local pipeline serves"),
        };
    }
}
