using System.Net.Http.Json;
using Sunaiva.AppHost.Infrastructure;

namespace Sunaiva.AppHost;

/// <summary>The whole Sunaiva model: infrastructure, secrets and the four services.</summary>
public static class SunaivaApp
{
    public static SunaivaInfrastructure AddSunaiva(this IDistributedApplicationBuilder builder)
    {
        var infra = builder.AddSunaivaInfrastructure();
        Console.WriteLine($"Sunaiva infrastructure mode: {infra.Mode.ToString().ToLowerInvariant()}"
            + (infra.DataRoot is null ? string.Empty : $" (data in {infra.DataRoot})"));

        var jwtKey = builder.AddParameter(ResourceNames.JwtSigningKeyParameter, new GenerateParameterDefault { MinLength = 48, Special = false }, secret: true, persist: true);
        var internalToken = builder.AddParameter(ResourceNames.InternalEventsTokenParameter, new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);

        var voice = builder.AddSunaivaService<Projects.Sunaiva_Voice>(ResourceNames.Voice, ResourceNames.VoiceDb, infra, jwtKey);
        var billing = builder.AddSunaivaService<Projects.Sunaiva_Billing>(ResourceNames.Billing, ResourceNames.BillingDb, infra, jwtKey);
        var media = builder.AddSunaivaService<Projects.Sunaiva_Media>(ResourceNames.Media, ResourceNames.MediaDb, infra, jwtKey);
        var engagement = builder.AddSunaivaService<Projects.Sunaiva_Engagement>(ResourceNames.Engagement, ResourceNames.EngagementDb, infra, jwtKey)
            .WithReference(infra.Smtp)
            .WaitFor(infra.Smtp)
            .WithEnvironment("InternalEvents__Token", internalToken)
            .WithReference(voice)
            .WithReference(billing)
            .WithReference(media)
            .WithHttpCommand(
                "/internal/events",
                "Simulate signup",
                commandName: "simulate-signup",
                commandOptions: new HttpCommandOptions
                {
                    Description = "Posts a sample user.signed_up event, as the conversation backend would.",
                    IconName = "PersonAdd",
                    PrepareRequest = async context =>
                    {
                        var token = await internalToken.Resource.GetValueAsync(context.CancellationToken);
                        context.Request.Headers.Authorization = new("Bearer", token);
                        var id = Guid.NewGuid().ToString("N")[..12];
                        context.Request.Content = JsonContent.Create(new
                        {
                            id = $"evt_sim_{id}",
                            type = "user.signed_up",
                            data = new
                            {
                                id = $"user_sim_{id}",
                                email = $"sim-{id}@example.com",
                                name = "Ada Example",
                                language = "en",
                                country = "GB",
                                goals = new[] { "reflect daily", "remember birthdays" },
                                voice = "en-GB-female-1",
                                referralCode = "DEMO",
                            },
                        });
                    },
                });

        _ = media.WithReference(infra.Storage).WaitFor(infra.Storage);
        _ = voice.WithReference(infra.Storage).WaitFor(infra.Storage);

        foreach (var service in new[] { voice, billing, media, engagement })
        {
            service.WithChaosCommands(jwtKey, TimeProvider.System).WithOpsDashboardLink(engagement, jwtKey, TimeProvider.System);
        }

        return infra;
    }

    private static IResourceBuilder<ProjectResource> AddSunaivaService<TProject>(
        this IDistributedApplicationBuilder builder,
        string name,
        string database,
        SunaivaInfrastructure infra,
        IResourceBuilder<ParameterResource> jwtKey)
        where TProject : IProjectMetadata, new() =>
        builder.AddProject<TProject>(name)
            .WithReference(infra.Redis)
            .WaitFor(infra.Redis)
            .WithReference(infra.Databases[database])
            .WaitFor(infra.PostgresServer)
            .WithEnvironment("Jwt__SigningKey", jwtKey)
            .WithEnvironment("Jwt__Issuer", ResourceNames.DevJwtIssuer)
            .WithEnvironment("Jwt__Audience", ResourceNames.JwtAudience)
            .WithHttpHealthCheck("/health");
}
