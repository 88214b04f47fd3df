namespace Sunaiva.Media.Videos;

/// <summary>
/// Wakes the server-sent event streams of this replica when one of a user's videos moved (progress, ready, failed).
/// Streams also re-read the database on a timer, so progress made on another replica reaches them too.
/// </summary>
public sealed class VideoProgress
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<TaskCompletionSource>> _waiters = new(StringComparer.Ordinal);

    public void Notify(string userId)
    {
        List<TaskCompletionSource>? waiters;
        lock (_gate)
        {
            _waiters.Remove(userId, out waiters);
        }

        waiters?.ForEach(w => w.TrySetResult());
    }

    /// <summary>Completes at the next change for the user, or after <paramref name="timeout"/>.</summary>
    public async Task WaitAsync(string userId, TimeSpan timeout, TimeProvider time, CancellationToken ct)
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (!_waiters.TryGetValue(userId, out var list))
            {
                _waiters[userId] = list = [];
            }

            list.Add(waiter);
        }

        try
        {
            await waiter.Task.WaitAsync(timeout, time, ct);
        }
        catch (TimeoutException)
        {
        }
    }
}
