using System.Globalization;
using System.Text;
using Sunaiva.Integration;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

/// <summary>Renders docs/providers.md from the kernel's provider configuration (prices, limits, quotas, sources).</summary>
public static class ProvidersDocument
{
    public static string Render(IntegrationOptions options)
    {
        var culture = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine("# Providers: prices, rate limits and quotas");
        md.AppendLine();
        md.AppendLine("Generated from `Sunaiva.Integration/providers.json` by the test");
        md.AppendLine("`ProvidersDocumentTests.Providers_md_matches_the_configuration`; edit the JSON, not this file.");
        md.AppendLine("Services may override any entry in their own configuration (`Integration:Providers:<name>:...`).");
        md.AppendLine("Limits with unit `requests` are enforced client-side (token bucket per provider, or per user);");
        md.AppendLine("other units are quotas shown against usage on the ops dashboard.");
        md.AppendLine();
        md.AppendLine("| provider | unit | USD per unit | USD per 1,000 | source | date | note |");
        md.AppendLine("|---|---|---:|---:|---|---|---|");
        foreach (var (name, provider) in options.Providers.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            foreach (var (unit, price) in provider.Prices.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                md.AppendLine(culture, $"| {name} | {unit} | {price.UsdPerUnit.ToString("0.#########", culture)} | {(price.UsdPerUnit * 1000).ToString("0.######", culture)} | {price.Source} | {price.Date} | {price.Note} |");
            }
        }

        md.AppendLine();
        md.AppendLine("## Rate limits and quotas");
        md.AppendLine();
        md.AppendLine("| provider | limit | unit | permits | per | counted per | enforced | source | date | note |");
        md.AppendLine("|---|---|---|---:|---|---|---|---|---|---|");
        foreach (var (name, provider) in options.Providers.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            foreach (var limit in provider.Limits)
            {
                var enforced = string.Equals(limit.Unit, "requests", StringComparison.OrdinalIgnoreCase) ? "client-side limiter" : "shown on dashboard";
                md.AppendLine(culture, $"| {name} | {limit.Name} | {limit.Unit} | {limit.Permits.ToString("N0", culture)} | {UsageStore.Describe(limit.Window)} | {(limit.PerUser ? "user" : "account")} | {enforced} | {limit.Source} | {limit.Date} | {limit.Note} |");
            }
        }

        md.AppendLine();
        md.AppendLine("## Guards");
        md.AppendLine();
        md.AppendLine("| provider | name | docs | attempt timeout | retries (idempotent only) | breaker: failure ratio / min calls / window / break |");
        md.AppendLine("|---|---|---|---|---:|---|");
        foreach (var (name, p) in options.Providers.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var b = p.CircuitBreaker;
            md.AppendLine(culture, $"| {name} | {p.DisplayName} | {p.Docs} | {p.AttemptTimeout.TotalSeconds.ToString("0.###", culture)} s | {p.Retry.MaxRetries} | {b.FailureRatio.ToString("0.##", culture)} / {b.MinimumThroughput} / {b.SamplingDuration.TotalSeconds.ToString("0", culture)} s / {b.BreakDuration.TotalSeconds.ToString("0", culture)} s |");
        }

        return md.ToString();
    }
}
