using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.Voice.Catalog;
using Sunaiva.Voice.Pipeline;
using Sunaiva.Voice.Tts;

namespace Sunaiva.Voice.Sessions;

/// <summary>What every session runtime uses (process-wide singletons: models are loaded once).</summary>
public sealed class SessionServices(
    SessionStore store,
    VoiceActivityModel vad,
    SphinxDecoderPool decoders,
    ProviderChain<ISttAdapter> stt,
    TtsService tts,
    ReplyGenerator replies,
    IEnumerable<ITurnObserver> observers,
    IOptions<PipelineOptions> options,
    TimeProvider time,
    ILogger<SessionRuntime> logger)
{
    public SessionStore Store { get; } = store;

    public VoiceActivityModel Vad { get; } = vad;

    public SphinxDecoderPool Decoders { get; } = decoders;

    public ProviderChain<ISttAdapter> Stt { get; } = stt;

    public TtsService Tts { get; } = tts;

    public ReplyGenerator Replies { get; } = replies;

    public IReadOnlyList<ITurnObserver> Observers { get; } = [.. observers];

    public PipelineOptions Options { get; } = options.Value;

    public TimeProvider Time { get; } = time;

    public ILogger Logger { get; } = logger;
}

/// <summary><c>voice.session.ended</c>: a voice session closed (its resume window passed without a socket).</summary>
public sealed record VoiceSessionEnded(string SessionId, string UserId, string VoiceId, string Mode, DateTimeOffset StartedAt, DateTimeOffset EndedAt);

/// <summary>
/// The live sessions of this process; a session lives until its resume window passes without a socket, and its end is
/// published (<c>voice.session.ended</c>, keyed by the session id, so a second report of the same end is dropped).
/// </summary>
public sealed partial class SessionHub(SessionServices services, VoiceCatalog catalog, NpgsqlDataSource dataSource, EventOutbox outbox) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<SessionRuntime>>> _sessions = new(StringComparer.Ordinal);

    public int Count => _sessions.Count;

    public Task<SessionRuntime> GetOrCreateAsync(VoiceSessionInfo info) =>
        _sessions.GetOrAdd(info.Id, _ => new Lazy<Task<SessionRuntime>>(() => CreateAsync(info))).Value;

    private async Task<SessionRuntime> CreateAsync(VoiceSessionInfo info)
    {
        var (seq, _, _) = await services.Store.StateAsync(info.Id);
        var voice = catalog.Find(info.VoiceId) ?? catalog.All[0];
        var runtime = new SessionRuntime(info, voice, seq, services);
        runtime.Expired += OnExpired;
        return runtime;
    }

    private void OnExpired(SessionRuntime runtime)
    {
        if (_sessions.TryRemove(runtime.Id, out _))
        {
            _ = runtime.DisposeAsync().AsTask();
            _ = PublishEndedAsync(runtime.Info);
        }
    }

    private async Task PublishEndedAsync(VoiceSessionInfo info)
    {
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync();
            await outbox.AddAsync(connection, null, EventTypes.VoiceSessionEnded,
                new VoiceSessionEnded(info.Id, info.UserId, info.VoiceId, info.Mode, info.CreatedAt, services.Time.GetUtcNow()), $"voice.session.ended:{info.Id}");
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            LogEndNotPublished(services.Logger, ex.GetType().Name);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A voice session's end was not published ({Error}); Engagement misses this voice use")]
    private static partial void LogEndNotPublished(ILogger logger, string error);

    public async ValueTask DisposeAsync()
    {
        foreach (var entry in _sessions.Values)
        {
            if (entry.IsValueCreated && entry.Value.IsCompletedSuccessfully)
            {
                await entry.Value.Result.DisposeAsync();
            }
        }

        _sessions.Clear();
    }
}
