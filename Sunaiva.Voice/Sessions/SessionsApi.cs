using System.Buffers;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;
using Sunaiva.Voice.Catalog;
using Sunaiva.Voice.Pipeline;
using Sunaiva.Voice.Preferences;
using Sunaiva.Voice.Tts;

namespace Sunaiva.Voice.Sessions;

/// <summary><c>POST /voice/sessions</c>: the voice (default: the caller's preference) and the preferred mode (<c>auto</c>, <c>cloud</c>, <c>local</c>, <c>text</c>).</summary>
public sealed record CreateSessionRequest(string? VoiceId, string? Mode);

/// <summary>How to reach the local pipeline: a WebSocket carrying PCM16 16 kHz mono up and down, and JSON events.</summary>
public sealed record LocalConnection(string StreamUrl, string Encoding, int SampleRate, int Channels, string Auth);

/// <summary>A created session and how to connect in its mode (<c>local</c> or <c>text</c> here; <c>cloud</c> when a realtime minter is wired).</summary>
public sealed record VoiceSessionView(string Id, string VoiceId, string Mode, string? ModeReason, DateTimeOffset CreatedAt, int ResumeWindowSeconds, LocalConnection? Local, object? Cloud);

/// <summary>A text turn sent over HTTP (same conversation as the socket); <c>id</c> makes a resend harmless.</summary>
public sealed record SessionMessageRequest(string? Text, string? Id);

public sealed record SessionMessageAccepted(int? Turn, bool Duplicate);

/// <summary>
/// Seam for the cloud mode (OpenAI Realtime, wired at merge): mints the client's connection info for a session, or null when
/// it cannot (no key, daily minutes used up) and the session stays local.
/// </summary>
public interface IRealtimeSessionMinter
{
    ValueTask<(object? Connection, string? Reason)> TryMintAsync(VoiceSessionInfo session, VoiceEntry voice, CancellationToken cancellationToken);
}

public static class SessionsApi
{
    private static readonly string[] Modes = ["auto", "cloud", "local", "text"];

    public static RouteGroupBuilder MapSessionsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/voice/sessions").RequireAuthorization().WithTags("Voice sessions");
        group.MapPost("/", CreateAsync)
            .WithSummary("Start a voice session and learn how to connect")
            .WithDescription("voiceId defaults to the caller's preference; mode auto (default) takes the cloud realtime mode when available, otherwise the local pipeline. The local pipeline is a WebSocket at local.streamUrl: binary PCM16 16 kHz mono frames up and down, JSON events with sequence numbers (see docs/voice.md).")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status422UnprocessableEntity)
            .WithRequestExample(new CreateSessionRequest("en-GB-female-1", "auto"));
        group.MapGet("/{id}", GetAsync)
            .WithSummary("One of the caller's voice sessions")
            .ProducesProblems(StatusCodes.Status404NotFound);
        group.MapPost("/{id}/messages", MessageAsync)
            .WithSummary("A text turn in the session (the reply arrives as events on the stream, or on resume)")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status410Gone)
            .WithRequestExample(new SessionMessageRequest("What time is it?", "client-turn-1"));
        group.MapGet("/{id}/stream", StreamAsync)
            .WithSummary("The session's WebSocket (local pipeline); ?lastSeq=N resumes after the last event seen")
            .WithDescription("Browsers pass the bearer token as ?access_token=. Up: binary PCM16 16 kHz mono, or JSON {\"type\":\"text\",\"text\",\"id\"} and {\"type\":\"ping\",\"t\"}. Down: binary PCM16 16 kHz mono reply audio, JSON events ready, transcript, mode, latency, audio_start, audio_end, barge_in, error, emotion, pong. A session can be resumed within 2 minutes of its socket dropping.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status410Gone);
        return group;
    }

    private static async Task<Results<Created<VoiceSessionView>, ProblemHttpResult>> CreateAsync(
        CreateSessionRequest request, HttpContext http, VoiceCatalog catalog, PreferenceStore preferences, SessionStore store,
        IServiceProvider services, IOptions<PipelineOptions> options, TimeProvider time, CancellationToken ct)
    {
        var mode = request.Mode?.ToLowerInvariant() ?? "auto";
        if (!Modes.Contains(mode))
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid mode", detail: $"mode must be one of {string.Join(", ", Modes)}.");
        }

        var userId = http.User.UserId();
        var voiceId = request.VoiceId ?? (await preferences.GetAsync(userId, ct))?.VoiceId ?? "en-US-female-1";
        if (catalog.Find(voiceId) is not { } voice)
        {
            return TypedResults.Problem(statusCode: 422, title: "Voice not in the catalog", detail: $"No voice {voiceId}; GET /voices lists them.");
        }

        var id = $"vs_{Guid.CreateVersion7():N}";
        var session = new VoiceSessionInfo(id, userId, voice.Id, mode, time.GetUtcNow());
        object? cloud = null;
        string? reason = null;
        var chosen = mode == "text" ? "text" : "local";
        if (mode is "auto" or "cloud")
        {
            if (services.GetService<IRealtimeSessionMinter>() is { } minter)
            {
                (cloud, reason) = await minter.TryMintAsync(session, voice, ct);
                chosen = cloud is null ? "local" : "cloud";
            }
            else if (mode == "cloud")
            {
                reason = "cloud realtime is not configured; the local pipeline serves";
            }
        }

        await store.CreateAsync(session with { Mode = chosen });
        var local = chosen == "cloud" ? null : new LocalConnection($"/voice/sessions/{id}/stream", "pcm16", TtsFormat.SampleRate, 1, "Authorization: Bearer, or ?access_token= for browsers");
        var view = new VoiceSessionView(id, voice.Id, chosen, reason, session.CreatedAt, (int)options.Value.ResumeWindow.TotalSeconds, local, cloud);
        return TypedResults.Created($"/voice/sessions/{id}", view);
    }

    private static async Task<Results<Ok<VoiceSessionInfo>, ProblemHttpResult>> GetAsync(string id, HttpContext http, SessionStore store) =>
        await OwnedAsync(id, http, store) is { } session ? TypedResults.Ok(session) : NotFound();

    private static async Task<Results<Accepted<SessionMessageAccepted>, ProblemHttpResult>> MessageAsync(
        string id, SessionMessageRequest request, HttpContext http, SessionStore store, SessionHub hub, IOptions<PipelineOptions> options, TimeProvider time, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(request.Text) || request.Text.Length > TtsApi.MaxTextLength || request.Id is { Length: > 100 })
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid message", detail: $"text must have 1 to {TtsApi.MaxTextLength} characters; id at most 100.");
        }

        if (await OwnedAsync(id, http, store) is not { } session)
        {
            return NotFound();
        }

        if (await ExpiredAsync(id, store, options.Value, time))
        {
            return Gone();
        }

        var runtime = await hub.GetOrCreateAsync(session);
        var turn = await runtime.OnTextAsync(request.Text.Trim(), request.Id, ct);
        return TypedResults.Accepted($"/voice/sessions/{id}", new SessionMessageAccepted(turn, turn is null));
    }

    private static async Task<Results<EmptyHttpResult, ProblemHttpResult>> StreamAsync(
        string id, long? lastSeq, HttpContext http, SessionStore store, SessionHub hub, IOptions<PipelineOptions> options, TimeProvider time)
    {
        if (await OwnedAsync(id, http, store) is not { } session)
        {
            return NotFound();
        }

        if (!http.WebSockets.IsWebSocketRequest)
        {
            return TypedResults.Problem(statusCode: 400, title: "WebSocket required", detail: "Connect to this URL with a WebSocket.");
        }

        if (await ExpiredAsync(id, store, options.Value, time))
        {
            return Gone();
        }

        var runtime = await hub.GetOrCreateAsync(session);
        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = options.Value.KeepAliveInterval,
            KeepAliveTimeout = options.Value.KeepAliveTimeout,
        });
        var ct = http.RequestAborted;
        var sender = await runtime.AttachAsync(socket, lastSeq ?? 0, ct);
        try
        {
            await ReceiveAsync(socket, runtime, sender, ct);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException)
        {
            // The connection dropped: the session waits for a resume.
        }
        finally
        {
            await runtime.DetachAsync(sender);
        }

        if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
        {
            try
            {
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
            }
            catch (Exception e) when (e is WebSocketException or IOException)
            {
            }
        }

        return TypedResults.Empty;
    }

    private static async Task ReceiveAsync(WebSocket socket, SessionRuntime runtime, SocketSender sender, CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        var message = new ArrayBufferWriter<byte>();
        while (socket.State == WebSocketState.Open && !sender.Completion.IsCompleted)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(), ct);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return;
            }

            if (result.MessageType == WebSocketMessageType.Binary)
            {
                // Audio needs no reassembly: the endpointer takes any slice of the stream.
                await runtime.OnAudioAsync(buffer.AsMemory(0, result.Count), ct);
                continue;
            }

            message.Write(buffer.AsSpan(0, result.Count));
            if (!result.EndOfMessage)
            {
                if (message.WrittenCount > 64 * 1024)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.MessageTooBig, "message too big", ct);
                    return;
                }

                continue;
            }

            await OnClientMessageAsync(message.WrittenMemory, runtime, sender, ct);
            message.Clear();
        }
    }

    private static async Task OnClientMessageAsync(ReadOnlyMemory<byte> json, SessionRuntime runtime, SocketSender sender, CancellationToken ct)
    {
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(json);
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return;
        }

        var type = root.TryGetProperty("type", out var t) ? t.GetString() : null;
        switch (type)
        {
            case "ping":
                await runtime.PongAsync(root.TryGetProperty("t", out var stamp) ? stamp : null, sender, ct);
                break;
            case "text" when root.TryGetProperty("text", out var text) && text.GetString() is { Length: > 0 and <= TtsApi.MaxTextLength } value && !string.IsNullOrWhiteSpace(value):
                var clientId = root.TryGetProperty("id", out var idElement) ? idElement.GetString() : null;
                await runtime.OnTextAsync(value.Trim(), clientId is { Length: <= 100 } ? clientId : null, ct);
                break;
        }
    }

    private static async Task<VoiceSessionInfo?> OwnedAsync(string id, HttpContext http, SessionStore store)
    {
        if (id.Length > 64)
        {
            return null;
        }

        var session = await store.GetAsync(id);
        return session is not null && session.UserId == http.User.UserId() ? session : null;
    }

    private static async Task<bool> ExpiredAsync(string id, SessionStore store, PipelineOptions options, TimeProvider time)
    {
        var (_, _, disconnectedAt) = await store.StateAsync(id);
        return disconnectedAt is { } at && time.GetUtcNow() - at > options.ResumeWindow;
    }

    private static ProblemHttpResult NotFound() =>
        TypedResults.Problem(statusCode: 404, title: "No such voice session", detail: "POST /voice/sessions to start one.");

    private static ProblemHttpResult Gone() =>
        TypedResults.Problem(statusCode: 410, title: "Voice session expired", detail: "Its connection dropped more than the resume window ago; start a new session.");
}
