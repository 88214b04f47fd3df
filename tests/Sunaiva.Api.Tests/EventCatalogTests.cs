using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Api.Tests;

/// <summary>docs/events.md is generated from the declarations, and the declarations match what the code publishes and handles.</summary>
[Collection(ServiceAppsCollection.Name)]
public sealed partial class EventCatalogTests(ServiceApps apps)
{
    public static TheoryData<string> Services => new(ServiceApps.Names);

    [Fact]
    public void Events_page_matches_the_declared_event_records()
    {
        var problem = RepositoryFiles.CompareOrUpdate("docs/events.md", EventCatalog.Markdown());

        Assert.True(problem is null, problem);
    }

    [Fact]
    public void Every_declared_event_type_is_one_of_the_known_event_types()
    {
        var declared = EventCatalog.Publishers.Select(p => p.Event.Type).Concat(EventCatalog.Consumers.Select(c => c.Event.Type));

        Assert.All(declared, type => Assert.Contains(type, EventCatalog.KnownTypes.Values));
    }

    [Theory]
    [MemberData(nameof(Services))]
    public void Declared_publications_match_the_outbox_writes_in_the_code(string service)
    {
        var folder = RepositoryFiles.PathOf($"Sunaiva.{char.ToUpperInvariant(service[0])}{service[1..]}");
        var written = Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .SelectMany(f => OutboxWrite().Matches(File.ReadAllText(f)).Select(m => EventCatalog.KnownTypes[m.Groups[1].Value]))
            .ToHashSet(StringComparer.Ordinal);
        var declared = EventCatalog.Publishers.Where(p => p.Service == service).Select(p => p.Event.Type).ToHashSet(StringComparer.Ordinal);

        Assert.True(written.SetEquals(declared),
            $"{service} writes [{string.Join(", ", written.Order())}] to its outbox but declares [{string.Join(", ", declared.Order())}] in EventContracts.cs");
    }

    [Theory]
    [MemberData(nameof(Services))]
    public void Declared_consumptions_match_the_registered_event_handlers(string service)
    {
        var handled = apps.Services(service).GetServices<IIntegrationEventHandler>()
            .SelectMany(h => h.EventTypes)
            .ToHashSet(StringComparer.Ordinal);
        var declared = EventCatalog.Consumers.Where(c => c.Service == service).Select(c => c.Event.Type).ToHashSet(StringComparer.Ordinal);

        Assert.True(handled.SetEquals(declared),
            $"{service} handles [{string.Join(", ", handled.Order())}] but declares [{string.Join(", ", declared.Order())}] in EventContracts.cs");
    }

    [Fact]
    public void Every_field_a_consumer_reads_is_written_by_the_producer()
    {
        var problems = new List<string>();
        foreach (var (service, consumed) in EventCatalog.Consumers)
        {
            var reads = EventCatalog.PropertyNames(consumed.Data);
            foreach (var (producer, published) in EventCatalog.Publishers.Where(p => p.Event.Type == consumed.Type))
            {
                var missing = reads.Except(EventCatalog.PropertyNames(published.Data)).Order().ToList();
                if (missing.Count > 0)
                {
                    problems.Add($"{service} reads {consumed.Type} into {consumed.Data.Name} with [{string.Join(", ", missing)}], which {producer}'s {published.Data.Name} does not write");
                }
            }
        }

        Assert.True(problems.Count == 0, string.Join("; ", problems));
    }

    // outbox.AddAsync(connection, tx, EventTypes.X, ...) in any formatting.
    [GeneratedRegex(@"\.AddAsync\(\s*\w+\s*,\s*\w+\s*,\s*EventTypes\.(\w+)")]
    private static partial Regex OutboxWrite();
}
