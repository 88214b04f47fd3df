using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Engagement.Ops;

/// <summary>Which services the ops dashboard gathers (besides Engagement itself), by service-discovery name.</summary>
public sealed class OpsDashboardOptions
{
    public const string SectionName = "OpsDashboard";

    /// <summary>Comma-separated service names; empty for Engagement alone.</summary>
    public string Peers { get; set; } = string.Join(',', ResourceNames.Voice, ResourceNames.Billing, ResourceNames.Media);

    public IReadOnlyList<string> PeerNames => Peers.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>How long one service may take to answer before the dashboard shows it as unreachable.</summary>
    [Range(typeof(TimeSpan), "00:00:00.1", "00:01:00")]
    public TimeSpan PeerTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
