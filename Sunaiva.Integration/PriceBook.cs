using Microsoft.Extensions.Options;

namespace Sunaiva.Integration;

/// <summary>Cost of provider units, from <c>Integration:Providers:*:Prices</c>.</summary>
public sealed class PriceBook(IOptions<IntegrationOptions> options)
{
    /// <summary>Price of one unit; zero for local providers and units with no price written down.</summary>
    public decimal UnitPrice(string provider, string unit) =>
        options.Value.Providers.TryGetValue(provider, out var p) && p.Prices.TryGetValue(unit, out var price) ? price.UsdPerUnit : 0m;

    public decimal Cost(string provider, string unit, decimal units) => units == 0 ? 0 : units * UnitPrice(provider, unit);
}
