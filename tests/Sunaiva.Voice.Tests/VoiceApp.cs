using Sunaiva.Testing;

namespace Sunaiva.Voice.Tests;

[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<LocalServers>
{
    public const string Name = "Local servers";
}

/// <summary>The voice service in-process on real Postgres and Redis, with a database of its own.</summary>
public sealed class VoiceApp(LocalServers servers, IDictionary<string, string?>? settings = null) : ServiceApp<Program>(servers, ResourceNames.VoiceDb, settings);
