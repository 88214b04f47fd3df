namespace Sunaiva.Billing.Influencers;

/// <summary>How a connected account in a country can be paid from the platform's country, or why it cannot.</summary>
public sealed record ConnectPlan(bool Allowed, bool CrossBorder, string? Refusal)
{
    /// <summary>Stripe's service agreement for the account: <c>recipient</c> for cross-border payouts, else the default (full).</summary>
    public string? ServiceAgreement => CrossBorder ? "recipient" : null;
}

/// <summary>
/// Where Stripe can pay connected accounts. Source: Stripe, "Cross-border payouts", Availability
/// (https://docs.stripe.com/connect/cross-border-payouts, read 2026-11): platforms based in the US, UK, EEA, Canada or
/// Switzerland can transfer funds to connected accounts in any of those regions; cross-border payouts work only with the
/// recipient service agreement (https://docs.stripe.com/connect/service-agreement-types), whose accounts can have the
/// transfers capability only. Outside those regions, only accounts in the platform's own country can be paid.
/// </summary>
public static class ConnectCountries
{
    /// <summary>European Economic Area: the 27 EU members, Iceland, Liechtenstein and Norway.</summary>
    public static readonly IReadOnlySet<string> Eea = new HashSet<string>(StringComparer.Ordinal)
    {
        "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL",
        "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
    };

    /// <summary>Countries that can send and receive cross-border payouts among themselves: US, GB, EEA, CA, CH.</summary>
    public static readonly IReadOnlySet<string> CrossBorderRegion = new HashSet<string>(Eea.Concat(["US", "GB", "CA", "CH"]), StringComparer.Ordinal);

    /// <summary>The countries whose connected accounts a platform in <paramref name="platformCountry"/> can pay.</summary>
    public static IReadOnlyList<string> PayableFrom(string platformCountry) =>
        CrossBorderRegion.Contains(platformCountry.ToUpperInvariant()) ? CrossBorderRegion.Order(StringComparer.Ordinal).ToList() : [platformCountry.ToUpperInvariant()];

    public static ConnectPlan Plan(string platformCountry, string accountCountry)
    {
        var platform = platformCountry.ToUpperInvariant();
        var country = accountCountry.ToUpperInvariant();
        if (platform == country)
        {
            return new ConnectPlan(true, false, null);
        }

        if (!CrossBorderRegion.Contains(platform))
        {
            return new ConnectPlan(false, true,
                $"Stripe pays connected accounts abroad only from platforms in the US, UK, EEA, Canada or Switzerland; this platform is in {platform}, so only {platform} accounts can be paid.");
        }

        return CrossBorderRegion.Contains(country)
            ? new ConnectPlan(true, true, null)
            : new ConnectPlan(false, true,
                $"Stripe cannot pay out to {country} from a platform in {platform}: cross-border payouts reach the US, UK, EEA, Canada and Switzerland only.");
    }
}
