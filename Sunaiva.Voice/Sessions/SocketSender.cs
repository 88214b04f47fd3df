using System.Net.WebSockets;
using System.Threading.Channels;

namespace Sunaiva.Voice.Sessions;

/// <summary>
/// The one writer of a socket: frames wait in a bounded queue and a pump writes them in order. A slow reader fills the
/// queue and producers wait (audio is paced by the reader, events are never dropped; they are also stored for replay).
/// </summary>
public sealed class SocketSender
{
    private readonly WebSocket _socket;
    private readonly Channel<(WebSocketMessageType Type, ReadOnlyMemory<byte> Data)> _queue;

    public SocketSender(WebSocket socket, int capacity)
    {
        _socket = socket;
        _queue = Channel.CreateBounded<(WebSocketMessageType, ReadOnlyMemory<byte>)>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        Completion = PumpAsync();
    }

    public Task Completion { get; }

    public WebSocket Socket => _socket;

    /// <summary>Queues a frame; false when the socket is gone (the frame is not sent).</summary>
    public async ValueTask<bool> SendAsync(WebSocketMessageType type, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        try
        {
            await _queue.Writer.WriteAsync((type, data), ct);
            return true;
        }
        catch (ChannelClosedException)
        {
            return false;
        }
    }

    /// <summary>Stops accepting frames; the pump writes what is queued, then ends.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    private async Task PumpAsync()
    {
        await Task.Yield();
        try
        {
            await foreach (var (type, data) in _queue.Reader.ReadAllAsync())
            {
                if (_socket.State != WebSocketState.Open)
                {
                    break;
                }

                await _socket.SendAsync(data, type, endOfMessage: true, CancellationToken.None);
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException or IOException)
        {
            // The socket broke: the session keeps its events for the client's resume.
        }
        finally
        {
            _queue.Writer.TryComplete();
            while (_queue.Reader.TryRead(out _))
            {
            }
        }
    }
}
