using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sunaiva.Testing;

/// <summary>
/// A TCP relay in front of Postgres with the faults tests give it: its first <c>dropFirst</c> connections are closed at
/// once (a server still starting), and the answer to one request is lost: the first time a client sends bytes holding
/// <c>loseAnswerTo</c>, they still reach Postgres, which runs (and, for a statement outside a transaction, commits) them,
/// but nothing more comes back and the connection is closed a moment later. What a client sees when the network or the
/// server goes away just after a commit: its outcome unknown. With <c>downAfterLoss</c> Postgres is then unreachable for
/// that long (every connection closed, new ones refused), so the client cannot ask it what happened either. Everything else
/// is relayed as is.
/// </summary>
public sealed class PostgresRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly int _target;
    private readonly int _dropFirst;
    private readonly byte[]? _marker;
    private readonly Task _accepting;
    private readonly TimeSpan _downAfterLoss;
    private CancellationTokenSource _connections = new();
    private long _downUntil;
    private int _accepted;
    private int _dropped;
    private int _lost;

    public PostgresRelay(int target, int dropFirst = 0, string? loseAnswerTo = null, TimeSpan downAfterLoss = default)
    {
        _target = target;
        _dropFirst = dropFirst;
        _marker = loseAnswerTo is null ? null : Encoding.UTF8.GetBytes(loseAnswerTo);
        _downAfterLoss = downAfterLoss;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>How many connections were closed at once (the first ones, and those made while Postgres was down).</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    /// <summary>Whether the answer to the marked request was lost.</summary>
    public bool Lost => Volatile.Read(ref _lost) == 1;

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                if (++_accepted <= _dropFirst || Environment.TickCount64 < Interlocked.Read(ref _downUntil))
                {
                    client.Dispose();
                    Interlocked.Increment(ref _dropped);
                    continue;
                }

                _ = RelayAsync(client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                using var relay = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, Volatile.Read(ref _connections).Token);
                await server.ConnectAsync(IPAddress.Loopback, _target, relay.Token);
                var losing = new Losing();
                await Task.WhenAny(ToServerAsync(client.GetStream(), server.GetStream(), losing, relay.Token), ToClientAsync(server.GetStream(), client.GetStream(), losing, relay.Token));
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
            {
            }
        }
    }

    private async Task ToServerAsync(NetworkStream from, NetworkStream to, Losing losing, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await from.ReadAsync(buffer, ct)) > 0)
        {
            // Decided before the bytes go on, so that no part of their answer is relayed.
            var lose = _marker is not null && buffer.AsSpan(0, read).IndexOf(_marker) >= 0 && Interlocked.CompareExchange(ref _lost, 1, 0) == 0;
            losing.Value |= lose;
            await to.WriteAsync(buffer.AsMemory(0, read), ct);
            if (lose)
            {
                // Long enough for the server to run and commit what it was sent; then the connection goes (both sides close).
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
                if (_downAfterLoss > TimeSpan.Zero)
                {
                    Interlocked.Exchange(ref _downUntil, Environment.TickCount64 + (long)_downAfterLoss.TotalMilliseconds);
                    await Interlocked.Exchange(ref _connections, new CancellationTokenSource()).CancelAsync();
                }

                return;
            }
        }
    }

    private async Task ToClientAsync(NetworkStream from, NetworkStream to, Losing losing, CancellationToken ct)
    {
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await from.ReadAsync(buffer, ct)) > 0)
        {
            if (!losing.Value)
            {
                await to.WriteAsync(buffer.AsMemory(0, read), ct);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
        _connections.Dispose();
    }

    /// <summary>Whether a connection's answers are lost from now on (set by its client side, read by its server side).</summary>
    private sealed class Losing
    {
        public volatile bool Value;
    }
}
