namespace Sunaiva.AppHost.Tests;

/// <summary>Polls for an outcome that arrives asynchronously (events, mail); the assertion is on the outcome, not the time.</summary>
internal static class Eventually
{
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
