using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>
/// What the vault's test classes share: Media in-process on the collection's servers, two users (ada and bob, unique per
/// test), and waiting for a file's extraction.
/// </summary>
public abstract class MediaTestBase(MediaServers servers, IDictionary<string, string?>? settings = null) : IAsyncLifetime
{
    protected MediaServers Servers { get; } = servers;

    protected MediaApp App { get; } = new(servers.Servers, settings);

    protected string Ada { get; } = "ada-" + Guid.NewGuid().ToString("N")[..8];

    protected string Bob { get; } = "bob-" + Guid.NewGuid().ToString("N")[..8];

    public Task InitializeAsync() => App.StartAsync();

    public async Task DisposeAsync() => await App.DisposeAsync();

    /// <summary>Waits until the file's extraction ran (its text status is no longer pending).</summary>
    protected async Task IndexedAsync(string id) =>
        await Eventually.UntilAsync(async () => await App.ScalarAsync<string>("SELECT text_status FROM files WHERE id = @id", ("id", id)) != "pending", $"file {id} is processed");
}
