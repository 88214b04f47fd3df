using Sunaiva.Testing;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

/// <summary>Real Redis and Postgres for every test that writes or reads the usage ledger.</summary>
[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<LocalServers>
{
    public const string Name = "servers";
}
