using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;
using Sunaiva.Voice.Preferences;

namespace Sunaiva.Voice.Realtime;

/// <summary>The body of POST /voice/realtime/sessions: all optional (voice: the caller's preference, then en-US-female-1).</summary>
public sealed record RealtimeSessionRequest(string? VoiceId, string? Instructions, string? TurnDetection);

/// <summary>The body of POST /voice/sessions/{id}/usage: how long the session really lasted.</summary>
public sealed record RealtimeUsageRequest(int Seconds);

public static class RealtimeApi
{
    private const string DefaultVoice = "en-US-female-1";

    public static IEndpointRouteBuilder MapRealtimeApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/voice").RequireAuthorization().WithTags("Voice realtime");
        group.MapPost("/realtime/sessions", MintAsync)
            .WithSummary("Mint a short-lived OpenAI Realtime client secret for a WebRTC session (cloud voice)")
            .WithDescription("The client posts its SDP offer to webRtcUrl with the clientSecret as bearer; audio never reaches Sunaiva. " +
                "The key grants at most the caller's minutes left today (by plan) and at most the longest session. Past the daily limit: 429 " +
                "with the offered modes (local, text) and Retry-After until midnight UTC; OpenAI down: 503 with Retry-After and the same offer; " +
                "no OpenAI key configured here: 503 offering the local pipeline. A retry with the same Idempotency-Key gets a fresh secret for the same session and spends no more minutes.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable)
            .WithRequestExample(new RealtimeSessionRequest("en-GB-female-1", null, "semantic_vad"))
            .WithResponseExample(StatusCodes.Status200OK, new RealtimeGrant(
                "rt_5f0c6a8e1d2b4c3a9e8f7d6c5b4a3f21", "openai-realtime", "ek_68af2c1b9e3c8190a1b2c3d4e5f6a7b8", new DateTimeOffset(2026, 11, 29, 18, 2, 0, TimeSpan.Zero),
                "gpt-realtime", "marin", "en-GB-female-1", "semantic_vad", new Uri("https://api.openai.com/v1/realtime/calls"), 600, 0));
        group.MapPost("/sessions/{id}/usage", ReportUsageAsync)
            .WithSummary("Report how long a cloud realtime session lasted (reconciles the minutes reserved when its key was minted)")
            .WithDescription("Idempotent: the latest report wins, capped at the seconds the key granted. Another user's session answers 404.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound)
            .WithRequestExample(new RealtimeUsageRequest(312))
            .WithResponseExample(StatusCodes.Status200OK, new RealtimeUsageReport("rt_5f0c6a8e1d2b4c3a9e8f7d6c5b4a3f21", 600, 312));
        return app;
    }

    private static async Task<Results<Ok<RealtimeGrant>, ProblemHttpResult>> MintAsync(
        RealtimeSessionRequest? request, HttpContext http, RealtimeMinter minter, PreferenceStore preferences, CancellationToken ct)
    {
        if (request?.Instructions is { Length: > 4000 })
        {
            return TypedResults.Problem(statusCode: 400, title: "Instructions too long", detail: "instructions may hold at most 4000 characters.");
        }

        if (request?.TurnDetection is { } turn && turn is not ("semantic_vad" or "server_vad"))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid turn detection", detail: "turnDetection must be semantic_vad or server_vad.");
        }

        var userId = http.User.UserId();
        var voiceId = request?.VoiceId ?? (await preferences.GetAsync(userId, ct))?.VoiceId ?? DefaultVoice;
        // A retried request (same Idempotency-Key) is the same session: a fresh secret on the same reservation.
        var sessionId = http.Request.Headers["Idempotency-Key"].ToString() is { Length: > 0 and <= 200 } key
            ? "rt_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{userId}\n{key}")))[..32]
            : null;
        var result = await minter.MintAsync(userId, new RealtimeSessionSpec(voiceId, request?.Instructions, request?.TurnDetection, sessionId), ct);
        return ToHttp(result, http);
    }

    /// <summary>The HTTP answer for a mint result (also usable by POST /voice/sessions for its cloud attempt).</summary>
    public static Results<Ok<RealtimeGrant>, ProblemHttpResult> ToHttp(RealtimeMintResult result, HttpContext http)
    {
        var offered = new Dictionary<string, object?> { ["offeredModes"] = RealtimeMintResult.FallbackModes };
        switch (result)
        {
            case RealtimeMintResult.Granted granted:
                return TypedResults.Ok(granted.Grant);
            case RealtimeMintResult.UnknownVoice unknown:
                return TypedResults.Problem(statusCode: 404, title: "Unknown voice", detail: $"No voice {unknown.VoiceId} in the catalog; GET /voices lists them.");
            case RealtimeMintResult.LimitReached limit:
                http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(limit.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                offered["limitMinutes"] = limit.LimitMinutes;
                offered["usedSeconds"] = limit.UsedSeconds;
                offered["resetsAt"] = limit.ResetsAt;
                offered["plan"] = limit.Plan ?? "free";
                return TypedResults.Problem(statusCode: 429, title: "Daily cloud voice minutes used",
                    detail: $"The {limit.LimitMinutes} minutes of cloud voice for today are used; they come back at {limit.ResetsAt:u}. The local voice pipeline and text remain available.",
                    extensions: offered);
            case RealtimeMintResult.Unavailable unavailable:
                http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(unavailable.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                offered["reason"] = unavailable.Reason;
                return TypedResults.Problem(statusCode: 503, title: "Cloud voice unavailable",
                    detail: "OpenAI Realtime could not start a session now. The local voice pipeline and text remain available.", extensions: offered);
            default:
                http.Response.Headers.RetryAfter = "3600";
                return TypedResults.Problem(statusCode: 503, title: "Cloud voice not configured",
                    detail: "This deployment has no OpenAI key; the local voice pipeline and text are the voice modes here.", extensions: offered);
        }
    }

    private static async Task<Results<Ok<RealtimeUsageReport>, ProblemHttpResult>> ReportUsageAsync(
        string id, RealtimeUsageRequest request, HttpContext http, RealtimeMinter minter, CancellationToken ct)
    {
        if (request.Seconds is < 0 or > 24 * 3600)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid usage", detail: "seconds must be between 0 and 86400.");
        }

        return await minter.ReportUsageAsync(http.User.UserId(), id, request.Seconds, ct) is { } report
            ? TypedResults.Ok(report)
            : TypedResults.Problem(statusCode: 404, title: "No such cloud voice session", detail: $"No cloud realtime session {id} of yours.");
    }
}
