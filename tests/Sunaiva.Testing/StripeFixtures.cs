using System.Text.Json.Nodes;

namespace Sunaiva.Testing;

/// <summary>
/// Stripe's own example objects (<c>Fixtures/stripe/fixtures3.json</c>, copied from github.com/stripe/openapi, MIT;
/// see NOTICE.md beside it), read from the test output folder so a clone of the repository alone has them.
/// </summary>
public static class StripeFixtures
{
    public static string FilePath { get; } = Path.Combine(AppContext.BaseDirectory, "Fixtures", "stripe", "fixtures3.json");

    private static readonly Lazy<JsonObject> Resources = new(() =>
        JsonNode.Parse(File.ReadAllText(FilePath))!["resources"]!.AsObject());

    /// <summary>A fresh copy of the fixture object named <paramref name="name"/> (e.g. <c>subscription</c>).</summary>
    public static JsonObject Get(string name) =>
        Resources.Value[name]?.DeepClone().AsObject() ?? throw new KeyNotFoundException($"Stripe fixture '{name}' is not in {FilePath}.");
}
