using System.Net.Http.Json;
using Sunaiva.AppHost.Infrastructure;

namespace Sunaiva.AppHost;

/// <summary>The whole Sunaiva model: infrastructure, secrets and the four services.</summary>
public static class SunaivaApp
{
    /// <param name="time">The clock of the model (fresh-folder clean-up, ops tokens); the system clock unless a test gives one.</param>
    public static SunaivaInfrastructure AddSunaiva(this IDistributedApplicationBuilder builder, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        var infra = builder.AddSunaivaInfrastructure(time);
        Console.WriteLine($"Sunaiva infrastructure mode: {infra.Mode.ToString().ToLowerInvariant()}"
            + (infra.DataRoot is null ? string.Empty : $" (data in {infra.DataRoot})"));

        var jwtKey = builder.AddParameter(ResourceNames.JwtSigningKeyParameter, new GenerateParameterDefault { MinLength = 48, Special = false }, secret: true, persist: true);
        var internalToken = builder.AddParameter(ResourceNames.InternalEventsTokenParameter, new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);
        var emailKey = builder.AddParameter(ResourceNames.EmailSigningKeyParameter, new GenerateParameterDefault { MinLength = 48, Special = false }, secret: true, persist: true);

        var voice = builder.AddSunaivaService<Projects.Sunaiva_Voice>(ResourceNames.Voice, ResourceNames.VoiceDb, infra, jwtKey);
        var billing = builder.AddSunaivaService<Projects.Sunaiva_Billing>(ResourceNames.Billing, ResourceNames.BillingDb, infra, jwtKey)
            .WithStripe(jwtKey);
        var media = builder.AddSunaivaService<Projects.Sunaiva_Media>(ResourceNames.Media, ResourceNames.MediaDb, infra, jwtKey)
            .WithGoogleDrive();
        var engagement = builder.AddSunaivaService<Projects.Sunaiva_Engagement>(ResourceNames.Engagement, ResourceNames.EngagementDb, infra, jwtKey)
            .WithReference(infra.Smtp)
            .WaitFor(infra.Smtp)
            .WithEnvironment("InternalEvents__Token", internalToken)
            .WithEnvironment("Email__SigningKey", emailKey)
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

        _ = engagement.WithEnvironment("Email__PublicBaseUrl", engagement.GetEndpoint("http"));
        _ = media.WithReference(infra.Storage).WaitFor(infra.Storage);
        // Narration of the onboarding videos: Voice's POST /tts through service discovery (espeak-ng in Media when Voice is down).
        _ = media.WithReference(voice);
        _ = voice.WithReference(infra.Storage).WaitFor(infra.Storage);
        // Optional: with Parameters:openai-api-key set, Voice mints OpenAI Realtime keys (cloud voice) and the local pipeline's
        // replies come from OpenAI; empty keeps the local pipeline with its built-in responder.
        var openAiKey = builder.AddOptionalSecret("openai-api-key");
        _ = voice.WithEnvironment("Voice__OpenAI__ApiKey", openAiKey).WithEnvironment("Voice__Reply__OpenAIApiKey", openAiKey);
        // Optional cloud TTS voices in the tts chain (cloud first, espeak-ng fallback): OpenAI speech with the same key,
        // ElevenLabs with Parameters:elevenlabs-api-key. Large clips are cached in the storage resource under tts/.
        var elevenLabsKey = builder.AddOptionalSecret("elevenlabs-api-key");
        _ = voice.WithEnvironment("Voice__Tts__OpenAI__ApiKey", openAiKey).WithEnvironment("Voice__Tts__ElevenLabs__ApiKey", elevenLabsKey);

        foreach (var service in new[] { voice, billing, media, engagement })
        {
            service.WithChaosCommands(jwtKey, time).WithOpsDashboardLink(engagement, jwtKey, time)
                .WithUrlForEndpoint("http", _ => new ResourceUrlAnnotation { Url = "/scalar/v1", DisplayText = "API reference" });
            if (infra.Mode == InfrastructureMode.Local)
            {
                service.WithSupervision();
            }
        }

        return infra;
    }

    /// <summary>
    /// Stripe secrets (both optional: empty means billing answers 503) and the billing ops commands.
    /// Set them with <c>Parameters:stripe-secret-key</c> / <c>Parameters:stripe-webhook-secret</c> (user secrets or environment).
    /// </summary>
    private static IResourceBuilder<ProjectResource> WithStripe(this IResourceBuilder<ProjectResource> billing, IResourceBuilder<ParameterResource> jwtKey)
    {
        var builder = billing.ApplicationBuilder;
        var secretKey = builder.AddOptionalSecret(ResourceNames.StripeSecretKeyParameter);
        var webhookSecret = builder.AddOptionalSecret(ResourceNames.StripeWebhookSecretParameter);
        billing
            .WithEnvironment("Stripe__SecretKey", secretKey)
            .WithEnvironment("Stripe__WebhookSecret", webhookSecret);

        // A local Stripe stand-in (stripe-mock, a test fake) is named by the AppHost's Stripe:ApiBase setting.
        if (builder.Configuration["Stripe:ApiBase"] is { Length: > 0 } apiBase)
        {
            billing.WithEnvironment("Stripe__ApiBase", apiBase);
        }

        return billing
            .WithOpsCommand(jwtKey, "/ops/billing/payouts/run", "Run payouts now", "run-payouts",
                "Pays every influencer whose payable balance reached the minimum, for last month (idempotent).", "Money", new { })
            .WithOpsCommand(jwtKey, "/ops/billing/webhooks/replay", "Replay dead-lettered webhooks", "replay-webhooks",
                "Puts every dead-lettered Stripe event back in the queue with fresh attempts.", "ArrowRepeatAll", new { })
            .WithOpsCommand(jwtKey, "/ops/billing/webhooks/recover", "Recover missed Stripe events", "recover-stripe-events",
                "Reads a time range of Stripe's Events API (30 days kept) into the inbox; events already stored are skipped.",
                "CloudArrowDown", null, AskRangeAsync);
    }

    /// <summary>Asks the dashboard user for the range to recover (last 72 hours when nobody can be asked).</summary>
    private static async Task<object?> AskRangeAsync(HttpCommandRequestContext context)
    {
        var now = (context.Services.GetService<TimeProvider>() ?? TimeProvider.System).GetUtcNow();
        var range = new { from = now.AddHours(-72), to = now };
        var interaction = context.Services.GetService<IInteractionService>();
        if (interaction is null || !interaction.IsAvailable)
        {
            return range;
        }

        var result = await interaction.PromptInputsAsync(
            "Recover missed Stripe events",
            "Time range in UTC (ISO 8601). Stripe keeps events for 30 days.",
            [
                new InteractionInput { Name = "from", Label = "From", InputType = InputType.Text, Required = true, Value = range.from.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) },
                new InteractionInput { Name = "to", Label = "To", InputType = InputType.Text, Required = true, Value = range.to.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) },
            ],
            cancellationToken: context.CancellationToken);
        if (result.Canceled || result.Data is null)
        {
            throw new OperationCanceledException("Recovery canceled.");
        }

        return new
        {
            from = DateTimeOffset.Parse(result.Data["from"].Value ?? string.Empty, CultureInfo.InvariantCulture),
            to = DateTimeOffset.Parse(result.Data["to"].Value ?? string.Empty, CultureInfo.InvariantCulture),
        };
    }

    private static IResourceBuilder<ProjectResource> WithOpsCommand(
        this IResourceBuilder<ProjectResource> resource,
        IResourceBuilder<ParameterResource> jwtKey,
        string path,
        string displayName,
        string commandName,
        string description,
        string icon,
        object? body,
        Func<HttpCommandRequestContext, Task<object?>>? bodyFactory = null) =>
        resource.WithHttpCommand(path, displayName, commandName: commandName, commandOptions: new HttpCommandOptions
        {
            Description = description,
            IconName = icon,
            PrepareRequest = async context =>
            {
                context.Request.Headers.Authorization = new("Bearer", await OpsAccess.MintAsync(jwtKey, context.Services.GetService<TimeProvider>() ?? TimeProvider.System, context.CancellationToken));
                context.Request.Content = JsonContent.Create(bodyFactory is null ? body : await bodyFactory(context));
            },
        });

    /// <summary>
    /// Google OAuth client for Drive (both optional: empty means /drive answers 503). Set <c>Parameters:drive-client-id</c> and
    /// <c>Parameters:drive-client-secret</c>; register <c>{media}/drive/callback</c> as the client's redirect URI (docs/drive.md).
    /// </summary>
    private static IResourceBuilder<ProjectResource> WithGoogleDrive(this IResourceBuilder<ProjectResource> media)
    {
        media.WithEnvironment("Drive__ClientId", media.ApplicationBuilder.AddOptionalSecret(ResourceNames.DriveClientIdParameter))
            .WithEnvironment("Drive__ClientSecret", media.ApplicationBuilder.AddOptionalSecret(ResourceNames.DriveClientSecretParameter));

        // A local Google stand-in (a test fake) is named by the AppHost's Drive:* endpoint settings; Google's otherwise.
        foreach (var setting in new[] { "AuthorizationEndpoint", "TokenEndpoint", "RevokeEndpoint", "ApiBaseUrl" })
        {
            if (media.ApplicationBuilder.Configuration[$"Drive:{setting}"] is { Length: > 0 } value)
            {
                media.WithEnvironment($"Drive__{setting}", value);
            }
        }

        return media;
    }

    /// <summary>A secret parameter read from <c>Parameters:NAME</c> when set, and empty (not asked for) otherwise.</summary>
    private static IResourceBuilder<ParameterResource> AddOptionalSecret(this IDistributedApplicationBuilder builder, string name) =>
        string.IsNullOrEmpty(builder.Configuration[$"Parameters:{name}"])
            ? builder.AddParameter(name, value: string.Empty, secret: true)
            : builder.AddParameter(name, secret: true);

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
