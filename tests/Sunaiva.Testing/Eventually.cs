namespace Sunaiva.Testing;

/// <summary>
/// Polls for an outcome of background work (events, mail, retries); the timeout only guards against hangs, it asserts
/// nothing about speed.
/// </summary>
public static class Eventually
{
    /// <summary>
    /// Waits until <paramref name="condition"/> holds, asking again every <paramref name="interval"/> (25 ms unless given: a
    /// condition that calls a service over HTTP wants a longer one, under the per-user rate limit of 600 a minute);
    /// throws <see cref="TimeoutException"/> naming <paramref name="what"/>.
    /// </summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Gave up waiting for: {what}");
            }

            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(25));
        }
    }

    /// <summary>Reads until <paramref name="done"/> accepts the value or time runs out, and returns the last value read (the caller asserts on it).</summary>
    public static async Task<T> Get<T>(Func<Task<T>> read, Func<T, bool> done, int maxSeconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(maxSeconds);
        var value = await read();
        while (!done(value) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            value = await read();
        }

        return value;
    }
}
