using Sunaiva.Testing;

namespace Sunaiva.Messaging.Tests;

/// <summary>Real Postgres and Redis processes for the messaging tests.</summary>
[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<LocalServers>
{
    public const string Name = "servers";
}
