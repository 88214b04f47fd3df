using Sunaiva.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>Real Redis, Postgres and s3rver for the media tests.</summary>
public sealed class MediaServers : IAsyncLifetime
{
    public LocalServers Servers { get; } = new() { WithStorage = true };

    public Task InitializeAsync() => Servers.InitializeAsync();

    public Task DisposeAsync() => Servers.DisposeAsync();

    /// <summary>Media as a real OS process on these servers and a database of its own (not started), with <paramref name="settings"/> added.</summary>
    public ServiceChildProcess MediaProcess(string database, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var values = new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{ResourceNames.MediaDb}"] = Servers.PostgresConnectionString(database),
            [$"ConnectionStrings:{ResourceNames.Redis}"] = Servers.RedisConnectionString,
            [$"ConnectionStrings:{ResourceNames.Storage}"] = Servers.StorageConnectionString,
            ["Jwt:SigningKey"] = DevTokens.TestSigningKey,
            ["Jwt:Issuer"] = "sunaiva-dev",
            ["Jwt:Audience"] = "sunaiva",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        return new ServiceChildProcess("Sunaiva.Media", values);
    }
}

[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<MediaServers>
{
    public const string Name = "Local servers with storage";
}

/// <summary>
/// The video tests on servers of their own, so they run beside the file tests (each collection is serial, two run at once):
/// the Media suite was one serial collection of about six and a half minutes, which ran on its own for its last 100 s
/// of a `.ci/run` of 846 s (the other project lane idle).
/// </summary>
[CollectionDefinition(Name)]
public sealed class VideoServersCollection : ICollectionFixture<MediaServers>
{
    public const string Name = "Local servers with storage, for the video tests";
}

/// <summary>The media service in-process on real Postgres, Redis and S3 (s3rver), with a database of its own.</summary>
public sealed class MediaApp(LocalServers servers, IDictionary<string, string?>? settings = null) : ServiceApp<Program>(servers, ResourceNames.MediaDb, settings)
{
    protected override void AddSettings(IDictionary<string, string?> values) =>
        values[$"ConnectionStrings:{ResourceNames.Storage}"] = Servers.StorageConnectionString;
}
