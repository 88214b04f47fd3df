using Microsoft.Extensions.Options;

namespace Sunaiva.Voice.Catalog;

/// <summary>The validated voice catalog, read once per process.</summary>
public sealed class VoiceCatalog
{
    private readonly Dictionary<string, VoiceEntry> _byId;
    private readonly Dictionary<string, VoiceEntry[]> _byRegion;
    private readonly Dictionary<string, string> _samples;

    public VoiceCatalog(IOptions<VoiceCatalogOptions> options)
    {
        var value = options.Value;
        _byId = value.Voices.ToDictionary(v => v.Id, StringComparer.Ordinal);
        _byRegion = value.Voices.GroupBy(v => v.Region, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.OrderBy(v => v.Gender, StringComparer.Ordinal).ThenBy(v => v.Id, StringComparer.Ordinal).ToArray(), StringComparer.OrdinalIgnoreCase);
        _samples = value.Samples;
        Regions = [.. _byRegion.Keys.Order(StringComparer.Ordinal)];
        All = [.. Regions.SelectMany(r => _byRegion[r])];
    }

    public IReadOnlyList<string> Regions { get; }

    public IReadOnlyList<VoiceEntry> All { get; }

    public VoiceEntry? Find(string id) => _byId.GetValueOrDefault(id);

    public IReadOnlyList<VoiceEntry>? InRegion(string region) => _byRegion.GetValueOrDefault(region);

    public string SampleText(VoiceEntry voice) => _samples[voice.Language];
}
