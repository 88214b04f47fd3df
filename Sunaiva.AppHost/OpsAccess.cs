using System.Net.Http.Json;

namespace Sunaiva.AppHost;

/// <summary>Ops access from the Aspire dashboard: a development ops token, the cost &amp; latency dashboard link, chaos commands.</summary>
public static class OpsAccess
{
    /// <summary>An ops token signed with the current value of the jwt-signing-key parameter.</summary>
    public static async Task<string> MintAsync(IResourceBuilder<ParameterResource> jwtKey, TimeProvider time, CancellationToken cancellationToken)
    {
        var key = await jwtKey.Resource.GetValueAsync(cancellationToken);
        return string.IsNullOrEmpty(key)
            ? throw new InvalidOperationException("The jwt-signing-key parameter has no value.")
            : DevOpsToken.Mint(key, ResourceNames.DevJwtIssuer, ResourceNames.JwtAudience, time.GetUtcNow());
    }

    /// <summary>Links the resource to Engagement's <c>/ops</c> page; the token rides in the fragment, which browsers never send to servers.</summary>
    public static IResourceBuilder<ProjectResource> WithOpsDashboardLink(
        this IResourceBuilder<ProjectResource> resource,
        IResourceBuilder<ProjectResource> engagement,
        IResourceBuilder<ParameterResource> jwtKey,
        TimeProvider time) =>
        resource.WithUrls(async context =>
        {
            var key = await jwtKey.Resource.GetValueAsync(context.CancellationToken);
            if (string.IsNullOrEmpty(key))
            {
                return;
            }

            var endpoint = engagement.GetEndpoint("http");
            var baseUrl = endpoint.IsAllocated ? endpoint.Url : $"http://localhost:{ResourceNames.Ports.Engagement}";
            context.Urls.Add(new ResourceUrlAnnotation
            {
                Url = $"{baseUrl}/ops#token={DevOpsToken.Mint(key, ResourceNames.DevJwtIssuer, ResourceNames.JwtAudience, time.GetUtcNow())}",
                DisplayText = "Ops: cost & latency",
            });
        });

    /// <summary>Dashboard commands that switch chaos on this service's first (cloud) adapters, and off again.</summary>
    public static IResourceBuilder<ProjectResource> WithChaosCommands(this IResourceBuilder<ProjectResource> resource, IResourceBuilder<ParameterResource> jwtKey, TimeProvider time)
    {
        HttpCommandOptions Put(string description, string icon, object body) => new()
        {
            Description = description,
            IconName = icon,
            Method = HttpMethod.Put,
            ResultMode = HttpCommandResultMode.Json,
            PrepareRequest = async context =>
            {
                context.Request.Headers.Authorization = new("Bearer", await MintAsync(jwtKey, time, context.CancellationToken));
                context.Request.Content = JsonContent.Create(body);
            },
        };

        return resource
            .WithHttpCommand("/ops/events/dead-letters/replay", "Replay dead-lettered events", commandName: "replay-dead-letters",
                commandOptions: new HttpCommandOptions
                {
                    Description = "Puts this service's dead-lettered events back on the stream (other services skip what they handled).",
                    IconName = "ArrowRepeatAll",
                    Method = HttpMethod.Post,
                    ResultMode = HttpCommandResultMode.Json,
                    PrepareRequest = async context =>
                        context.Request.Headers.Authorization = new("Bearer", await MintAsync(jwtKey, time, context.CancellationToken)),
                })
            .WithHttpCommand("/ops/chaos", "Chaos: primary providers down", commandName: "chaos-outage",
                commandOptions: Put("Every chain's first adapter fails (Polly chaos fault), so traffic falls back.", "PlugDisconnected", new { primaryOnly = true, outage = true }))
            .WithHttpCommand("/ops/chaos", "Chaos: 30% faults + 2 s latency", commandName: "chaos-flaky",
                commandOptions: Put("Every chain's first adapter fails 30% of calls and is slow on half of them.", "WeatherThunderstorm", new { primaryOnly = true, faultRate = 0.3, latencyRate = 0.5, latencyMs = 2000 }))
            .WithHttpCommand("/ops/chaos", "Chaos: off", commandName: "chaos-off",
                commandOptions: Put("Back to the configured chaos settings (none by default).", "Checkmark", new { reset = true }));
    }
}
