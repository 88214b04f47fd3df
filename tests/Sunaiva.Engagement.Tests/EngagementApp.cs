using System.Net.Http.Headers;
using Sunaiva.Testing;

namespace Sunaiva.Engagement.Tests;

[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<LocalServers>
{
    public const string Name = "Local servers";
}

/// <summary>Engagement in-process on real Postgres and Redis, alone (no peers), with an unreachable SMTP relay.</summary>
public sealed class EngagementApp(LocalServers servers) : ServiceApp<Program>(servers, ResourceNames.EngagementDb)
{
    public const string InternalToken = "internal-events-test-token-0123456789";

    public HttpClient BackendClient(string token = InternalToken)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    protected override void AddSettings(IDictionary<string, string?> values)
    {
        values[$"ConnectionStrings:{ResourceNames.Smtp}"] = "Endpoint=smtp://127.0.0.1:1";
        values["InternalEvents:Token"] = InternalToken;
        values["OpsDashboard:Peers"] = string.Empty;
    }
}
