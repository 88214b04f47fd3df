using Microsoft.Extensions.Time.Testing;

namespace Sunaiva.Email.Tests;

/// <summary>A fresh database and app per test, on the shared servers; time starts on a fixed Monday morning.</summary>
[Collection(ServersCollection.Name)]
public abstract class EmailTestBase(EmailServers servers) : IAsyncLifetime
{
    protected EmailServers Servers { get; } = servers;

    protected EngagementApp App { get; private set; } = null!;

    protected Maildev Mail => Servers.Mail;

    protected virtual IDictionary<string, string?>? Settings => null;

    protected static string NewAddress(string who) => $"{who}-{Guid.NewGuid():N}@example.com";

    public async Task InitializeAsync()
    {
        var database = await EngagementApp.CreateDatabaseAsync(Servers);
        App = new EngagementApp(Servers, database, new FakeTimeProvider(new DateTimeOffset(2026, 11, 2, 9, 0, 0, TimeSpan.Zero)), Settings);
        _ = App.Server;
    }

    public async Task DisposeAsync() => await App.DisposeAsync();

    /// <summary>The URL inside <c>List-Unsubscribe: &lt;url&gt;</c>.</summary>
    protected static string UnsubscribeUrl(ReceivedMail mail) =>
        mail.Headers.TryGetValue("list-unsubscribe", out var value) ? value.Trim().TrimStart('<').TrimEnd('>') : throw new KeyNotFoundException(string.Join(" | ", mail.Headers.Select(h => h.Key + "=" + h.Value)));

    /// <summary>The path and query of one of our public links, to call it in-process.</summary>
    protected static string Local(string url)
    {
        Assert.StartsWith(EngagementApp.PublicBase, url, StringComparison.Ordinal);
        return url[EngagementApp.PublicBase.Length..];
    }
}
