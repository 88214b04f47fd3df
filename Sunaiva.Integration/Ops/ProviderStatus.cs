namespace Sunaiva.ServiceDefaults.Ops;

/// <summary>A provider adapter (Stripe, SMTP relay, HeyGen, ...) that reports its own state.</summary>
public interface IProviderStatusSource
{
    IEnumerable<ProviderStatus> GetStatuses();
}

/// <summary>One provider's line on <c>/ops/status</c>: its circuit (or configuration) state and a short detail.</summary>
public sealed record ProviderStatus(string Capability, string Provider, string State, string? Detail = null);
