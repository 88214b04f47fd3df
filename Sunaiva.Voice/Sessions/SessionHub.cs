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

/// <summary>The live sessions of this process; a session lives until its resume window passes without a socket.</summary>
public sealed class SessionHub(SessionServices services, VoiceCatalog catalog) : IAsyncDisposable
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
        }
    }

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
