using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Sunaiva.Testing;
using Sunaiva.Voice.Tts;

namespace Sunaiva.Voice.Tests;

/// <summary>A client of a session's WebSocket: sends PCM or text, keeps every event and the reply audio it received.</summary>
public sealed class VoiceClient : IAsyncDisposable
{
    private readonly WebSocket _socket;
    private readonly Task _reader;
    private readonly Lock _lock = new();
    private readonly List<JsonElement> _events = [];
    private readonly MemoryStream _audio = new();

    private VoiceClient(WebSocket socket)
    {
        _socket = socket;
        _reader = ReadAsync();
    }

    public static async Task<VoiceClient> ConnectAsync<T>(WebApplicationFactory<T> app, string sessionId, string userId, long lastSeq = 0)
        where T : class
    {
        var client = app.Server.CreateWebSocketClient();
        client.ConfigureRequest = r => r.Headers.Authorization = $"Bearer {DevTokens.For(userId)}";
        var socket = await client.ConnectAsync(new Uri($"ws://localhost/voice/sessions/{sessionId}/stream?lastSeq={lastSeq}"), CancellationToken.None);
        return new VoiceClient(socket);
    }

    public IReadOnlyList<JsonElement> Events
    {
        get
        {
            lock (_lock)
            {
                return [.. _events];
            }
        }
    }

    public byte[] Audio
    {
        get
        {
            lock (_lock)
            {
                return _audio.ToArray();
            }
        }
    }

    public long LastSeq => Events.Where(e => e.TryGetProperty("seq", out _)).Select(e => e.GetProperty("seq").GetInt64()).DefaultIfEmpty(0).Max();

    public Task SendTextAsync(string text, string? id = null) =>
        _socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(new { type = "text", text, id }), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>Sends PCM16 16 kHz mono in 20 ms frames (as fast as the server takes them: the endpointer works in audio time).</summary>
    public async Task SendPcmAsync(byte[] pcm)
    {
        for (var offset = 0; offset < pcm.Length; offset += 640)
        {
            await _socket.SendAsync(pcm.AsMemory(offset, Math.Min(640, pcm.Length - offset)), WebSocketMessageType.Binary, true, CancellationToken.None);
        }
    }

    public async Task<JsonElement> WaitForAsync(Func<JsonElement, bool> match, string what, int timeoutSeconds = 60)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(timeoutSeconds))
        {
            var found = Events.Where(match).ToList();
            if (found.Count > 0)
            {
                return found[0];
            }

            if (_reader.IsCompleted && watch.Elapsed > TimeSpan.FromSeconds(1))
            {
                break;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"No {what}; events: {string.Join("\n", Events.Select(e => e.GetRawText()))}");
    }

    public static Func<JsonElement, bool> Is(string type, string? role = null, bool? final = null, int? turn = null) => e =>
        e.GetProperty("type").GetString() == type
        && (role is null || (e.TryGetProperty("role", out var r) && r.GetString() == role))
        && (final is null || (e.TryGetProperty("final", out var f) && f.GetBoolean() == final))
        && (turn is null || (e.TryGetProperty("turn", out var t) && t.GetInt32() == turn));

    /// <summary>Drops the connection without a close handshake (a network failure).</summary>
    public void Abort() => _socket.Abort();

    private async Task ReadAsync()
    {
        var buffer = new byte[64 * 1024];
        var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open)
            {
                var result = await _socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    return;
                }

                message.Write(buffer, 0, result.Count);
                if (!result.EndOfMessage)
                {
                    continue;
                }

                lock (_lock)
                {
                    if (result.MessageType == WebSocketMessageType.Binary)
                    {
                        message.Position = 0;
                        message.CopyTo(_audio);
                    }
                    else
                    {
                        _events.Add(JsonDocument.Parse(Encoding.UTF8.GetString(message.ToArray())).RootElement.Clone());
                    }
                }

                message.SetLength(0);
            }
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_socket.State == WebSocketState.Open)
        {
            try
            {
                await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            }
            catch (Exception e) when (e is WebSocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }

        _socket.Dispose();
        await _reader;
    }
}

/// <summary>Test speech made with flite (pocketsphinx recognizes it far better than espeak's voices), as PCM16 16 kHz mono.</summary>
public static class Speech
{
    public static async Task<byte[]> FliteAsync(string text, int trailingSilenceMs = 600)
    {
        var wav = await Flite.WavAsync(text);
        var rate = BitConverter.ToInt32(wav, 24);
        var pcm = new PcmResampler(rate, TtsFormat.SampleRate).Process(FindData(wav));
        return [.. new byte[16 * 2 * 200], .. pcm, .. new byte[16 * 2 * trailingSilenceMs]];
    }

    private static byte[] FindData(byte[] wav)
    {
        var offset = 12;
        while (offset + 8 <= wav.Length)
        {
            var size = BitConverter.ToInt32(wav, offset + 4);
            if (Encoding.ASCII.GetString(wav, offset, 4) == "data")
            {
                return wav[(offset + 8)..Math.Min(wav.Length, offset + 8 + size)];
            }

            offset += 8 + size;
        }

        throw new InvalidDataException("no data chunk");
    }

    public static double WordErrorRate(string reference, string hypothesis)
    {
        static string[] Words(string s) => s.ToLowerInvariant().Split([' ', ',', '.', '?', '!'], StringSplitOptions.RemoveEmptyEntries);
        var r = Words(reference);
        var h = Words(hypothesis);
        var d = new int[r.Length + 1, h.Length + 1];
        for (var i = 0; i <= r.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= h.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= r.Length; i++)
        {
            for (var j = 1; j <= h.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (r[i - 1] == h[j - 1] ? 0 : 1));
            }
        }

        return r.Length == 0 ? 0 : d[r.Length, h.Length] / (double)r.Length;
    }

    public static bool HasSound(byte[] pcm) =>
        Enumerable.Range(0, pcm.Length / 2).Count(i => Math.Abs((int)BitConverter.ToInt16(pcm, 2 * i)) > 1000) > pcm.Length / 2 / 20;
}
