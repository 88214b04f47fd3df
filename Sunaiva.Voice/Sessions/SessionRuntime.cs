using System.Net.WebSockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using Sunaiva.Integration;
using Sunaiva.Voice.Catalog;
using Sunaiva.Voice.Pipeline;
using Sunaiva.Voice.Tts;

namespace Sunaiva.Voice.Sessions;

/// <summary>
/// One live voice session in this process: endpointing and speech-to-text of the audio coming up, one reply at a time
/// (text always, audio sentence by sentence while the voice path works), sequenced events stored for replay, and the
/// socket of the moment (sockets come and go; the session outlives them for the resume window).
/// </summary>
public sealed partial class SessionRuntime : IAsyncDisposable
{
    private readonly VoiceSessionInfo _info;
    private readonly VoiceEntry _voice;
    private readonly SessionServices _s;
    private readonly SemaphoreSlim _emitLock = new(1, 1);
    private readonly Channel<PendingTurn> _turns = Channel.CreateUnbounded<PendingTurn>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _lifetime = new();
    private readonly List<SpeechEvent> _speechEvents = [];
    private readonly Task _replyWorker;
    private long _seq;
    private SocketSender? _sender;
    private Endpointer _endpointer;
    private SphinxUtterance? _utterance;
    private List<short> _turnAudio = [];
    private long _lastPartialSamples;
    private bool _sttDown;
    private bool _ttsDown;
    private string _mode = "voice";
    private CancellationTokenSource? _replyAudio;
    private int _speakingTurn;
    private long _playbackEndsAt;
    private ITimer? _expiry;
    private Speculation? _speculation;
    private int? _reservedTurn;

    internal SessionRuntime(VoiceSessionInfo info, VoiceEntry voice, long seq, SessionServices services)
    {
        _info = info;
        _voice = voice;
        _seq = seq;
        _s = services;
        _endpointer = new Endpointer(_s.Vad.CreateStream(), _s.Options);
        _replyWorker = Task.Run(ReplyLoopAsync);

        // A session used only over HTTP (text turns) never attaches a socket: it expires like a dropped one.
        _expiry = _s.Time.CreateTimer(_ => Expired?.Invoke(this), null, _s.Options.ResumeWindow, Timeout.InfiniteTimeSpan);
    }

    public string Id => _info.Id;

    /// <summary>The session as created (owner, voice, mode, start).</summary>
    public VoiceSessionInfo Info => _info;

    public string Mode => _mode;

    internal event Action<SessionRuntime>? Expired;

    public async Task<SocketSender> AttachAsync(WebSocket socket, long lastSeq, CancellationToken ct)
    {
        await _emitLock.WaitAsync(ct);
        try
        {
            _expiry?.Dispose();
            _expiry = null;
            if (_sender is { } old)
            {
                old.Complete();
                _ = CloseQuietlyAsync(old.Socket, "replaced by a newer connection");
            }

            ResetAudio();
            var sender = new SocketSender(socket, _s.Options.SendQueueCapacity);
            await sender.SendAsync(WebSocketMessageType.Text, Serialize("ready", null, new
            {
                sessionId = _info.Id,
                voiceId = _voice.Id,
                mode = _mode,
                lastSeq = _seq,
                resumed = lastSeq > 0,
                sampleRate = TtsFormat.SampleRate,
                vad = _s.Vad.Kind,
            }), ct);
            foreach (var json in await _s.Store.EventsAfterAsync(_info.Id, lastSeq))
            {
                await sender.SendAsync(WebSocketMessageType.Text, Encoding.UTF8.GetBytes(json), ct);
            }

            _sender = sender;
            await _s.Store.MarkDisconnectedAsync(_info.Id, disconnected: false);
            return sender;
        }
        finally
        {
            _emitLock.Release();
        }
    }

    public async Task DetachAsync(SocketSender sender)
    {
        await _emitLock.WaitAsync();
        try
        {
            sender.Complete();
            if (!ReferenceEquals(_sender, sender))
            {
                return;
            }

            _sender = null;
            ResetAudio();
            await _s.Store.MarkDisconnectedAsync(_info.Id, disconnected: true);
            _expiry = _s.Time.CreateTimer(_ => Expired?.Invoke(this), null, _s.Options.ResumeWindow, Timeout.InfiniteTimeSpan);
        }
        finally
        {
            _emitLock.Release();
        }
    }

    public Task PongAsync(JsonElement? stamp, SocketSender sender, CancellationToken ct) =>
        sender.SendAsync(WebSocketMessageType.Text, Serialize("pong", null, new { t = stamp }), ct).AsTask();

    /// <summary>A text turn (over the socket or <c>POST /voice/sessions/{id}/messages</c>); a client turn id seen before is ignored.</summary>
    public async Task<int?> OnTextAsync(string text, string? clientTurnId, CancellationToken ct)
    {
        if (clientTurnId is not null && !await _s.Store.ClaimClientTurnAsync(_info.Id, clientTurnId))
        {
            return null;
        }

        var turn = await _s.Store.NextTurnAsync(_info.Id);
        await EmitAsync("transcript", new { role = "user", final = true, text, turn, source = "text", clientTurnId }, ct);
        await _s.Store.AddHistoryAsync(_info.Id, new HistoryEntry("user", text, turn));
        var now = _s.Time.GetTimestamp();
        await _turns.Writer.WriteAsync(new PendingTurn(turn, text, [], null, null, now, now, TurnGate.Open(), Speculative: false, SpeechEndSample: null), ct);
        return turn;
    }

    /// <summary>PCM16 16 kHz mono from the client: endpointing, streaming recognition, and a turn when the user stops.</summary>
    public async Task OnAudioAsync(ReadOnlyMemory<byte> pcm, CancellationToken ct)
    {
        _speechEvents.Clear();
        _endpointer.Feed(pcm.Span, _speechEvents);
        foreach (var e in _speechEvents)
        {
            switch (e.Kind)
            {
                case SpeechEventKind.Started:
                    await BargeInIfSpeakingAsync(ct);
                    _turnAudio = [.. e.Audio];
                    _lastPartialSamples = 0;
                    await StartRecognitionAsync(e.Audio, ct);
                    break;
                case SpeechEventKind.Audio:
                    _turnAudio.AddRange(e.Audio);
                    _utterance?.Feed(e.Audio);
                    if (_utterance is not null && _turnAudio.Count - _lastPartialSamples >= TtsFormat.SampleRate / 2)
                    {
                        _lastPartialSamples = _turnAudio.Count;
                        var partial = _utterance.Partial();
                        if (partial.Length > 0)
                        {
                            await EmitAsync("transcript", new { role = "user", final = false, text = partial }, ct, sequenced: false);
                        }
                    }

                    break;
                case SpeechEventKind.Paused:
                    await SpeculateAsync(e, ct);
                    break;
                case SpeechEventKind.Resumed:
                    await ResumeAsync(ct);
                    break;
                case SpeechEventKind.Ended:
                    await EndOfSpeechAsync(e, ct);
                    break;
            }
        }
    }

    private async Task StartRecognitionAsync(short[] audio, CancellationToken ct)
    {
        _utterance?.Dispose();
        _utterance = null;
        try
        {
            _utterance = await _s.Decoders.StartAsync(ct);
            _utterance.Feed(audio);
        }
        catch (SpeechRecognitionUnavailableException e)
        {
            _utterance?.Dispose();
            _utterance = null;
            await SetDownAsync(stt: true, down: true, $"speech-to-text unavailable: {e.Message}", ct);
        }
    }

    /// <summary>
    /// A short pause: the transcript is finalized and the reply started now, behind a gate that holds its events (and,
    /// unless <see cref="PipelineOptions.EarlyAudio"/>, its audio) until the end-of-speech silence confirms the turn.
    /// </summary>
    private async Task SpeculateAsync(SpeechEvent e, CancellationToken ct)
    {
        var detectedAt = _s.Time.GetTimestamp();
        var silenceMs = (_endpointer.Samples - e.SpeechEndSample) / 16.0;
        if (_utterance is not { } utterance || _speculation is not null)
        {
            return;
        }

        var text = await FinishTranscriptAsync(utterance, ct);
        if (text is null)
        {
            return;
        }

        var sttMs = _s.Time.GetElapsedTime(detectedAt).TotalMilliseconds;
        if (text.Length == 0)
        {
            return;
        }

        var turn = _reservedTurn ??= await _s.Store.NextTurnAsync(_info.Id);
        var gate = TurnGate.Speculative();
        _speculation = new Speculation(turn, text, gate);
        await _turns.Writer.WriteAsync(new PendingTurn(turn, text, [.. _turnAudio], silenceMs, sttMs, detectedAt, _s.Time.GetTimestamp(), gate, Speculative: true, e.SpeechEndSample), ct);
    }

    /// <summary>The user went on after a short pause: the speculative reply is dropped and the turn's decoding goes on.</summary>
    private async Task ResumeAsync(CancellationToken ct)
    {
        if (_speculation is { } speculation)
        {
            _speculation = null;
            await _emitLock.WaitAsync(ct);
            try
            {
                var released = speculation.Gate.AudioReleased;
                speculation.Gate.Drop();
                if (released)
                {
                    await EmitLockedAsync("retract", new { turn = speculation.Turn }, sequenced: false, ct);
                }
            }
            finally
            {
                _emitLock.Release();
            }

            _speakingTurn = 0;
            Volatile.Write(ref _playbackEndsAt, 0);
            LogSpeculationDropped(_s.Logger, _info.Id, speculation.Turn);
        }

        if (_utterance is { Ended: true } utterance)
        {
            try
            {
                utterance.Restart(CollectionsMarshal.AsSpan(_turnAudio));
            }
            catch (SpeechRecognitionUnavailableException)
            {
                utterance.Dispose();
                _utterance = null;
                await SetDownAsync(stt: true, down: true, "speech-to-text unavailable", ct);
            }
        }
    }

    private async Task EndOfSpeechAsync(SpeechEvent e, CancellationToken ct)
    {
        var endpointedAt = _s.Time.GetTimestamp();
        var endpointingMs = (_endpointer.Samples - e.SpeechEndSample) / 16.0;
        var utterance = _utterance;
        _utterance = null;
        if (_speculation is { } speculation)
        {
            // The pause became the end of the turn: the reply prepared since then is confirmed and released.
            _speculation = null;
            _reservedTurn = null;
            utterance?.Dispose();
            await CommitAsync(speculation, ct);
            _turnAudio = [];
            return;
        }

        if (utterance is null)
        {
            return;
        }

        string? text;
        using (utterance)
        {
            text = await FinishTranscriptAsync(utterance, ct);
        }

        var sttMs = _s.Time.GetElapsedTime(endpointedAt).TotalMilliseconds;
        if (string.IsNullOrEmpty(text))
        {
            _reservedTurn = null;
            return;
        }

        var turn = _reservedTurn ?? await _s.Store.NextTurnAsync(_info.Id);
        _reservedTurn = null;
        await EmitAsync("transcript", new { role = "user", final = true, text, turn, source = "voice" }, ct);
        await _s.Store.AddHistoryAsync(_info.Id, new HistoryEntry("user", text, turn));
        await _turns.Writer.WriteAsync(new PendingTurn(turn, text, [.. _turnAudio], endpointingMs, sttMs, endpointedAt, _s.Time.GetTimestamp(), TurnGate.Open(), Speculative: false, e.SpeechEndSample), ct);
        _turnAudio = [];
    }

    /// <summary>Ends the utterance through the <c>stt</c> chain; null when speech-to-text failed (the session goes to text).</summary>
    private async Task<string?> FinishTranscriptAsync(SphinxUtterance utterance, CancellationToken ct)
    {
        try
        {
            using var _ = MeteringContext.ForUser(_info.UserId);
            var result = await _s.Stt.ExecuteAsync(
                new ProviderOperation("transcribe", Unit: "audio-seconds"),
                (adapter, call, token) =>
                {
                    call.Units = utterance.SamplesFed / (decimal)TtsFormat.SampleRate;
                    return adapter.FinishAsync(utterance, token);
                },
                ct);
            await SetDownAsync(stt: true, down: false, "speech-to-text recovered", ct);
            return result.Value.Trim();
        }
        catch (Exception ex) when (ex is ProviderChainException or SpeechRecognitionUnavailableException)
        {
            await SetDownAsync(stt: true, down: true, "speech-to-text unavailable", ct);
            return null;
        }
    }

    /// <summary>
    /// Confirms a speculative turn: the user's transcript, then what the reply produced so far (events and audio, in
    /// order) go out at once; the events are stored in one round trip (not one per event) before anything is sent, and
    /// the rest of the reply flows live.
    /// </summary>
    private async Task CommitAsync(Speculation speculation, CancellationToken ct)
    {
        var gate = speculation.Gate;
        var history = _s.Store.AddHistoryAsync(_info.Id, new HistoryEntry("user", speculation.Text, speculation.Turn));
        await _emitLock.WaitAsync(ct);
        try
        {
            if (gate.State != TurnGateState.Pending)
            {
                await history;
                return;
            }

            gate.Commit();
            var outgoing = new List<(byte[]? Json, ReadOnlyMemory<byte> Audio)>();
            var stored = new List<(long Seq, string Json)>();
            void Add(string type, object fields, bool sequenced)
            {
                long? seq = sequenced ? ++_seq : null;
                var json = Serialize(type, seq, fields);
                if (seq is { } s)
                {
                    stored.Add((s, Encoding.UTF8.GetString(json)));
                }

                outgoing.Add((json, default));
            }

            Add("transcript", new { role = "user", final = true, text = speculation.Text, turn = speculation.Turn, source = "voice" }, sequenced: true);
            foreach (var item in gate.Held)
            {
                if (item.Type is { } type)
                {
                    Add(type, item.Fields!, item.Sequenced);
                }
                else
                {
                    outgoing.Add((null, item.Audio));
                }
            }

            gate.Held.Clear();
            await Task.WhenAll(_s.Store.AppendEventsAsync(_info.Id, stored), history);
            foreach (var (json, audio) in outgoing)
            {
                if (json is not null)
                {
                    if (_sender is { } sender)
                    {
                        await sender.SendAsync(WebSocketMessageType.Text, json, ct);
                    }
                }
                else
                {
                    await SendAudioLockedAsync(audio, gate, ct);
                }
            }
        }
        finally
        {
            _emitLock.Release();
        }
    }

    private async Task BargeInIfSpeakingAsync(CancellationToken ct)
    {
        var turn = _speakingTurn;
        if (turn == 0 || _s.Time.GetTimestamp() >= Volatile.Read(ref _playbackEndsAt) && _replyAudio is null)
        {
            return;
        }

        _speakingTurn = 0;
        Volatile.Write(ref _playbackEndsAt, 0);
        try
        {
            _replyAudio?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }

        await EmitAsync("barge_in", new { turn }, ct);
    }

    private async Task ReplyLoopAsync()
    {
        var ct = _lifetime.Token;
        try
        {
            await foreach (var turn in _turns.Reader.ReadAllAsync(ct))
            {
                try
                {
                    await ReplyAsync(turn, ct);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    LogReplyFailed(_s.Logger, _info.Id, e.GetType().Name);
                    await EmitAsync("error", new { turn = turn.Turn, code = "reply_failed", message = "The reply could not be produced." }, ct);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task ReplyAsync(PendingTurn pending, CancellationToken lifetime)
    {
        var gate = pending.Gate;
        using var turn = CancellationTokenSource.CreateLinkedTokenSource(lifetime, gate.DroppedToken);
        try
        {
            await ReplyCoreAsync(pending, turn.Token);
        }
        catch (OperationCanceledException) when (gate.State == TurnGateState.Dropped && !lifetime.IsCancellationRequested)
        {
            // The user went on speaking after the pause: this speculative reply is not wanted.
        }
        finally
        {
            gate.Dispose();
        }
    }

    private async Task ReplyCoreAsync(PendingTurn pending, CancellationToken ct)
    {
        using var metering = MeteringContext.ForUser(_info.UserId);
        var gate = pending.Gate;
        var hints = new List<string>();
        var style = SpeechStyle.Neutral;
        var userTurn = new UserTurn(_info.Id, _info.UserId, pending.Turn, pending.Text, pending.Audio, TtsFormat.SampleRate, _voice.Language);
        foreach (var observer in _s.Observers)
        {
            try
            {
                if (await observer.ObserveAsync(userTurn, ct) is { } seen)
                {
                    await EmitAsync(seen.EventType, seen.Payload, ct, gate: gate);
                    if (seen.ReplyHint is { } hint)
                    {
                        hints.Add(hint);
                    }

                    style = seen.Style ?? style;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                LogObserverFailed(_s.Logger, observer.GetType().Name, e.GetType().Name);
            }
        }

        var history = await _s.Store.HistoryAsync(_info.Id, _s.Options.HistoryTurns);
        var messages = history.Select(h => new ChatMessage(h.Role == "user" ? ChatRole.User : ChatRole.Assistant, h.Text)).ToList();
        if (pending.Speculative && !history.Any(h => h.Role == "user" && h.Turn == pending.Turn))
        {
            // Not confirmed yet, so not in the stored history: the reply answers it all the same.
            messages.Add(new ChatMessage(ChatRole.User, pending.Text));
        }

        using var audio = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _replyAudio = audio;
        var state = new ReplyState(pending, style);
        var full = new StringBuilder();
        try
        {
            await foreach (var sentence in _s.Replies.SentencesAsync(messages, hints, ct))
            {
                state.ReplyMs ??= _s.Time.GetElapsedTime(pending.TranscriptAt).TotalMilliseconds;
                full.Append(full.Length > 0 ? " " : string.Empty).Append(sentence);
                await EmitAsync("transcript", new { role = "assistant", final = false, text = sentence, turn = pending.Turn }, ct, gate: gate);
                if (!audio.IsCancellationRequested)
                {
                    await SpeakAsync(sentence, state, audio.Token, ct);
                }
            }
        }
        finally
        {
            _replyAudio = null;
        }

        // A speculative turn's reply is kept only once the end-of-speech silence confirms the turn.
        if (!await gate.Decided.WaitAsync(ct))
        {
            return;
        }

        var reply = full.ToString();
        await _s.Store.AddHistoryAsync(_info.Id, new HistoryEntry("assistant", reply, pending.Turn));
        await EmitAsync("transcript", new { role = "assistant", final = true, text = reply, turn = pending.Turn }, ct);
        if (state.AudioStarted)
        {
            await EmitAsync("audio_end", new { turn = pending.Turn, samples = state.Samples, bargedIn = audio.IsCancellationRequested }, ct);
        }

        await EmitLatencyAsync(state, ct);
    }

    private async Task SpeakAsync(string sentence, ReplyState state, CancellationToken audioToken, CancellationToken ct)
    {
        var gate = state.Pending.Gate;
        try
        {
            var opened = _s.Time.GetTimestamp();
            var clip = await _s.Tts.OpenAsync(_voice, sentence, state.Style, audioToken);
            await foreach (var chunk in clip.Chunks.WithCancellation(audioToken))
            {
                if (!state.AudioStarted)
                {
                    state.AudioStarted = true;
                    state.TtsFirstByteMs = _s.Time.GetElapsedTime(opened).TotalMilliseconds;
                    state.CacheHit = clip.CacheHit;
                    _speakingTurn = state.Pending.Turn;
                    state.FirstAudioAt = _s.Time.GetTimestamp();
                    gate.FirstAudioReadyAt = state.FirstAudioAt;
                    await EmitAsync("audio_start", new { turn = state.Pending.Turn, sampleRate = TtsFormat.SampleRate, encoding = "pcm16" }, ct, gate: gate);
                }

                for (var offset = 0; offset < chunk.Length; offset += 3200)
                {
                    var frame = chunk.Slice(offset, Math.Min(3200, chunk.Length - offset));
                    await SendAudioAsync(frame, gate, audioToken);
                    state.Samples += frame.Length / 2;
                    Volatile.Write(ref _playbackEndsAt, state.FirstAudioAt + (long)(state.Samples / (double)TtsFormat.SampleRate * _s.Time.TimestampFrequency));
                }
            }

            await SetDownAsync(stt: false, down: false, "speech synthesis recovered", ct);
        }
        catch (OperationCanceledException) when (audioToken.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            // Barge-in: the user spoke over the reply; its text still arrives as transcript events.
        }
        catch (Exception e) when (e is ProviderChainException or StreamInterruptedException or SpeechSynthesisUnavailableException)
        {
            var reason = e is ProviderChainException { Unavailable: true } ? "speech synthesis unavailable (circuit open)" : "speech synthesis failed";
            await SetDownAsync(stt: false, down: true, reason, ct);
        }
    }

    /// <summary>
    /// The turn's marks: <c>endpointingMs</c> is the silence heard when the pipeline started (the short pause of a
    /// speculative turn, else the end-of-speech silence), <c>holdMs</c> how long ready audio waited for the turn to be
    /// confirmed, <c>serverMs</c> the server's whole part from the end of speech (as its VAD saw it) to the first audio
    /// frame handed to the socket, <c>speechEndSample</c> where in the connection's audio (16 kHz samples) the VAD put the
    /// end of speech (a client that knows where its speech really ended can tell the VAD's hang-over).
    /// </summary>
    private Task EmitLatencyAsync(ReplyState state, CancellationToken ct)
    {
        var pending = state.Pending;
        var gate = pending.Gate;
        var tick = 1000.0 / _s.Time.TimestampFrequency;
        double? serverMs = gate.FirstAudioSentAt == 0 ? null : ((gate.FirstAudioSentAt - pending.DetectedAt) * tick) + (pending.EndpointingMs ?? 0);
        double? holdMs = gate.FirstAudioSentAt == 0 ? null : Math.Max(0, (gate.FirstAudioSentAt - gate.FirstAudioReadyAt) * tick);
        return EmitAsync("latency", new
        {
            turn = pending.Turn,
            endpointingMs = pending.EndpointingMs,
            sttMs = pending.SttMs,
            replyMs = state.ReplyMs,
            ttsFirstByteMs = state.TtsFirstByteMs,
            holdMs,
            serverMs,
            cacheHit = state.CacheHit,
            speculative = pending.Speculative,
            speechEndSample = pending.SpeechEndSample,
            earlyAudio = pending.Speculative && gate.AudioReleased,
        }, ct);
    }

    private async Task SetDownAsync(bool stt, bool down, string reason, CancellationToken ct)
    {
        if (stt)
        {
            _sttDown = down;
        }
        else
        {
            _ttsDown = down;
        }

        var mode = _sttDown || _ttsDown ? "text" : "voice";
        if (mode == _mode)
        {
            return;
        }

        _mode = mode;
        LogModeChanged(_s.Logger, _info.Id, mode, reason);
        await EmitAsync("mode", new { mode, reason }, ct);
    }

    private async Task SendAudioAsync(ReadOnlyMemory<byte> frame, TurnGate gate, CancellationToken ct)
    {
        await _emitLock.WaitAsync(ct);
        try
        {
            switch (gate.State)
            {
                case TurnGateState.Dropped:
                    return;
                case TurnGateState.Pending when !_s.Options.EarlyAudio:
                    gate.Held.Add(new TurnGate.HeldItem(null, null, false, frame));
                    return;
                case TurnGateState.Pending:
                    gate.AudioReleased = true;
                    break;
            }

            await SendAudioLockedAsync(frame, gate, ct);
        }
        finally
        {
            _emitLock.Release();
        }
    }

    // Callers hold _emitLock.
    private async Task SendAudioLockedAsync(ReadOnlyMemory<byte> frame, TurnGate gate, CancellationToken ct)
    {
        if (_sender is { } sender && await sender.SendAsync(WebSocketMessageType.Binary, frame, ct) && gate.FirstAudioSentAt == 0)
        {
            gate.FirstAudioSentAt = _s.Time.GetTimestamp();
        }
    }

    /// <summary>
    /// Sends an event; a sequenced one is stored first (and replayed on resume), an unsequenced one (partials, pongs) is
    /// live only. With a pending <paramref name="gate"/> (a speculative turn) it is held until the turn is confirmed.
    /// </summary>
    private async Task EmitAsync(string type, object fields, CancellationToken ct, bool sequenced = true, TurnGate? gate = null)
    {
        await _emitLock.WaitAsync(ct);
        try
        {
            switch (gate?.State)
            {
                case TurnGateState.Dropped:
                    return;
                case TurnGateState.Pending:
                    gate.Held.Add(new TurnGate.HeldItem(type, fields, sequenced, default));
                    return;
            }

            await EmitLockedAsync(type, fields, sequenced, ct);
        }
        finally
        {
            _emitLock.Release();
        }
    }

    // Callers hold _emitLock.
    private async Task EmitLockedAsync(string type, object fields, bool sequenced, CancellationToken ct)
    {
        long? seq = sequenced ? ++_seq : null;
        var json = Serialize(type, seq, fields);
        if (seq is { } s)
        {
            await _s.Store.AppendEventAsync(_info.Id, s, Encoding.UTF8.GetString(json));
        }

        if (_sender is { } sender)
        {
            await sender.SendAsync(WebSocketMessageType.Text, json, ct);
        }
    }

    private static byte[] Serialize(string type, long? seq, object? fields)
    {
        var node = new JsonObject();
        if (seq is { } s)
        {
            node["seq"] = s;
        }

        node["type"] = type;
        if (fields is not null && JsonSerializer.SerializeToNode(fields, JsonSerializerOptions.Web) is JsonObject values)
        {
            foreach (var (key, value) in values.ToList())
            {
                values.Remove(key);
                node[key] = value;
            }
        }

        return JsonSerializer.SerializeToUtf8Bytes(node);
    }

    private void ResetAudio()
    {
        // Callers hold _emitLock. A speculative turn dies with the audio stream it came from.
        _speculation?.Gate.Drop();
        _speculation = null;
        _reservedTurn = null;
        _utterance?.Dispose();
        _utterance = null;
        _endpointer.Dispose();
        _endpointer = new Endpointer(_s.Vad.CreateStream(), _s.Options);
    }

    private static async Task CloseQuietlyAsync(WebSocket socket, string reason)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, reason, timeout.Token);
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        _expiry?.Dispose();
        _turns.Writer.TryComplete();
        await _lifetime.CancelAsync();
        try
        {
            await _replyWorker;
        }
        catch (OperationCanceledException)
        {
        }

        _utterance?.Dispose();
        _endpointer.Dispose();
        _lifetime.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Voice session {SessionId}: reply failed ({Error})")]
    private static partial void LogReplyFailed(ILogger logger, string sessionId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Turn observer {Observer} failed ({Error}); the turn goes on")]
    private static partial void LogObserverFailed(ILogger logger, string observer, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Voice session {SessionId} now in {Mode} mode: {Reason}")]
    private static partial void LogModeChanged(ILogger logger, string sessionId, string mode, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Voice session {SessionId}: speech resumed after a pause, speculative reply of turn {Turn} dropped")]
    private static partial void LogSpeculationDropped(ILogger logger, string sessionId, int turn);

    /// <summary>A user turn to answer. <see cref="DetectedAt"/>: when the pipeline saw the pause or end that started it.</summary>
    private sealed record PendingTurn(int Turn, string Text, short[] Audio, double? EndpointingMs, double? SttMs, long DetectedAt, long TranscriptAt, TurnGate Gate, bool Speculative, long? SpeechEndSample);

    private sealed record Speculation(int Turn, string Text, TurnGate Gate);

    private sealed class ReplyState(PendingTurn pending, SpeechStyle style)
    {
        public PendingTurn Pending { get; } = pending;

        public SpeechStyle Style { get; } = style;

        public bool AudioStarted { get; set; }

        public long FirstAudioAt { get; set; }

        public long Samples { get; set; }

        public double? ReplyMs { get; set; }

        public double? TtsFirstByteMs { get; set; }

        public bool CacheHit { get; set; }
    }
}
