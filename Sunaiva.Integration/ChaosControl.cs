using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Simmy;
using Polly.Simmy.Fault;
using Polly.Simmy.Latency;

namespace Sunaiva.Integration;

/// <summary>The chaos currently switched on per provider: starts from configuration, changed at run time by ops.</summary>
public sealed class ChaosControl
{
    private readonly ConcurrentDictionary<string, ChaosState> _states = new(StringComparer.OrdinalIgnoreCase);
    private readonly IntegrationOptions _options;

    public ChaosControl(IOptions<IntegrationOptions> options)
    {
        _options = options.Value;
        foreach (var (provider, p) in _options.Providers)
        {
            _states[provider] = new ChaosState(p.Chaos.Clone());
        }
    }

    /// <summary>Providers with their chaos settings (every configured provider, and any seen since start).</summary>
    public IReadOnlyDictionary<string, ChaosSettings> Current =>
        _states.OrderBy(s => s.Key, StringComparer.Ordinal).ToDictionary(s => s.Key, s => s.Value.Settings.Clone(), StringComparer.OrdinalIgnoreCase);

    internal ChaosState For(string provider) => _states.GetOrAdd(provider, static _ => new ChaosState(new ChaosSettings()));

    /// <summary>Replaces a provider's chaos settings; takes effect on the next call.</summary>
    public void Set(string provider, ChaosSettings settings) => For(provider).Settings = settings.Clone();

    /// <summary>Back to the configured settings for every provider.</summary>
    public void Reset()
    {
        foreach (var (provider, state) in _states)
        {
            state.Settings = _options.Providers.TryGetValue(provider, out var p) ? p.Chaos.Clone() : new ChaosSettings();
        }
    }
}

/// <summary>Mutable holder read by the chaos strategies' generators on every call.</summary>
internal sealed class ChaosState(ChaosSettings settings)
{
    private volatile ChaosSettings _settings = settings;

    public ChaosSettings Settings
    {
        get => _settings;
        set => _settings = value;
    }
}

/// <summary>Polly's chaos strategies (latency, then fault) for one adapter, driven by the live settings.</summary>
internal sealed class AdapterChaos
{
    private readonly ChaosState _state;
    private readonly ResiliencePipeline _pipeline;

    public AdapterChaos(string provider, ChaosState state, TimeProvider time)
    {
        _state = state;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = time, Name = $"{provider}/chaos" }
            .AddChaosLatency(new ChaosLatencyStrategyOptions
            {
                EnabledGenerator = _ => ValueTask.FromResult(_state.Settings is { LatencyRate: > 0 } s && s.Latency > TimeSpan.Zero),
                InjectionRateGenerator = _ => ValueTask.FromResult(_state.Settings.LatencyRate),
                LatencyGenerator = _ => ValueTask.FromResult(_state.Settings.Latency),
            })
            .AddChaosFault(new ChaosFaultStrategyOptions
            {
                EnabledGenerator = _ => ValueTask.FromResult(_state.Settings is { } s && (s.Outage || s.FaultRate > 0)),
                InjectionRateGenerator = _ => ValueTask.FromResult(_state.Settings is { Outage: true } ? 1.0 : _state.Settings.FaultRate),
                FaultGenerator = _ => ValueTask.FromResult<Exception?>(new ChaosInjectedException(provider)),
            })
            .Build();
    }

    public bool Active => _state.Settings.Active;

    public ValueTask<T> RunAsync<TState, T>(ProviderCallContext context, Func<TState, ProviderCallContext, CancellationToken, ValueTask<T>> call, TState state, CancellationToken cancellationToken)
    {
        // Without chaos the pipeline is skipped: the common path pays nothing for it.
        if (!_state.Settings.Active)
        {
            return call(state, context, cancellationToken);
        }

        return _pipeline.ExecuteAsync(static (s, ct) => s.call(s.state, s.context, ct), (call, state, context), cancellationToken);
    }
}
