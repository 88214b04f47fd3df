using Sunaiva.Testing;

namespace Sunaiva.ServiceDefaults.Tests;

[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<LocalServers>
{
    public const string Name = "Local servers";
}
