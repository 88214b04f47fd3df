namespace Sunaiva.Engagement.Email;

/// <summary>What a message is, for preferences and suppression: a reader can turn off any category but transactional.</summary>
public static class EmailCategories
{
    public const string Transactional = "transactional";
    public const string Onboarding = "onboarding";
    public const string Reengagement = "reengagement";
    public const string Reports = "reports";

    /// <summary>Suppresses every category (hard bounce, complaint).</summary>
    public const string All = "*";

    /// <summary>The categories a reader can choose.</summary>
    public static readonly IReadOnlyList<string> Optional = [Onboarding, Reengagement, Reports];

    public static bool IsOptional(string category) => Optional.Contains(category, StringComparer.Ordinal);
}
