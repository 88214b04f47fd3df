using System.Reflection;

namespace Sunaiva;

/// <summary>Who this service is: its short name (voice, billing, ...) and version.</summary>
public sealed record ServiceIdentity(string Name, string Version)
{
    public static ServiceIdentity FromApplicationName(string applicationName)
    {
        var name = applicationName.StartsWith("Sunaiva.", StringComparison.Ordinal)
            ? applicationName["Sunaiva.".Length..]
            : applicationName;
        var assembly = Assembly.GetEntryAssembly();
        var version = assembly?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly?.GetName().Version?.ToString()
            ?? "0.0.0";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return new ServiceIdentity(name.ToLowerInvariant(), plus > 0 ? version[..plus] : version);
    }
}
