using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

public sealed class ProvidersDocumentTests
{
    [Fact]
    public void Providers_md_matches_the_configuration()
    {
        var options = EmbeddedOptions();
        var rendered = ProvidersDocument.Render(options);
        var path = Path.Combine(RepositoryRoot(), "docs", "providers.md");
        var committed = File.Exists(path) ? File.ReadAllText(path) : null;
        if (committed != rendered)
        {
            // Regenerate, then fail so the change is noticed and committed.
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, rendered);
        }

        Assert.Equal(rendered, committed);
    }

    [Fact]
    public void Every_configured_price_and_limit_has_a_source_and_a_date_and_the_options_validate()
    {
        var options = EmbeddedOptions();

        Assert.True(new IntegrationOptionsValidator().Validate(null, options).Succeeded);
        Assert.NotEmpty(options.Providers);
        Assert.All(options.Providers.Values.SelectMany(p => p.Prices.Values), p => Assert.False(string.IsNullOrWhiteSpace(p.Source) || string.IsNullOrWhiteSpace(p.Date)));
        Assert.All(options.Providers.Values.SelectMany(p => p.Limits), l => Assert.False(string.IsNullOrWhiteSpace(l.Source) || string.IsNullOrWhiteSpace(l.Date)));
        Assert.Contains(options.Providers, p => p.Value.Limits.Any(l => l.PerUser));
    }

    [Fact]
    public void A_price_without_a_source_fails_validation_naming_the_key()
    {
        var options = new IntegrationOptions();
        options.Providers["acme"] = new ProviderOptions();
        options.Providers["acme"].Prices["emails"] = new PriceEntry { UsdPerUnit = 0.1m, Date = "2026-11-01" };

        var result = new IntegrationOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Integration:Providers:acme:Prices:emails", result.FailureMessage);
    }

    private static IntegrationOptions EmbeddedOptions()
    {
        using var stream = IntegrationKernelExtensions.OpenProvidersJson();
        var configuration = new ConfigurationBuilder().AddJsonStream(stream).Build();
        var options = new IntegrationOptions();
        configuration.GetSection(IntegrationOptions.SectionName).Bind(options);
        return options;
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Sunaiva.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Sunaiva.sln not found above the test output folder.");
    }
}
