using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;
using Sunaiva.Voice.Sessions;
using Sunaiva.Voice.Tts;

namespace Sunaiva.Voice.Pipeline;

public static class PipelineExtensions
{
    /// <summary>The local voice pipeline: models (once per process), the stt and tts chains, the reply model, sessions and the TTS cache.</summary>
    public static IHostApplicationBuilder AddVoicePipeline(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<PipelineOptions>().BindConfiguration(PipelineOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();

        // Audio frames are decoded synchronously (pocketsphinx under its process-wide lock) on pool threads: with the
        // default minimum (one thread per core) two sessions decoding at once can leave no thread for the socket writes
        // and Redis replies of others, which would then wait for the pool's gradual thread injection.
        var minThreads = builder.Configuration.GetValue<int?>($"{PipelineOptions.SectionName}:MinWorkerThreads") ?? new PipelineOptions().MinWorkerThreads;
        ThreadPool.GetMinThreads(out var workers, out var completion);
        ThreadPool.SetMinThreads(Math.Max(workers, minThreads), completion);
        services.AddOptions<TtsOptions>().BindConfiguration(TtsOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ReplyOptions>().BindConfiguration(ReplyOptions.SectionName);
        services.AddSingleton<VoiceActivityModel>();
        services.AddSingleton<SphinxDecoderPool>();
        services.AddProviderChain<ISttAdapter>("stt").AddAdapter<PocketSphinxStt>();
        // Cloud first when configured (an adapter without its key is skipped), espeak-ng always last.
        services.AddProviderChain<ITtsAdapter>("tts").AddAdapter<OpenAITts>().AddAdapter<ElevenLabsTts>().AddAdapter<EspeakTts>();
        services.AddSingleton<TtsService>();
        services.AddHostedService<TtsWarmup>();
        services.AddSingleton<LocalResponder>();
        services.AddChatClient(sp =>
        {
            var reply = sp.GetRequiredService<IOptions<ReplyOptions>>().Value;
            if (string.IsNullOrEmpty(reply.OpenAIApiKey))
            {
                return sp.GetRequiredService<LocalResponder>();
            }

            var client = new OpenAI.OpenAIClient(new System.ClientModel.ApiKeyCredential(reply.OpenAIApiKey),
                new OpenAI.OpenAIClientOptions { Endpoint = reply.Endpoint ?? new Uri("https://api.openai.com/v1") });
            return client.GetChatClient(reply.Model).AsIChatClient();
        });
        services.AddSingleton<ReplyGenerator>();
        services.AddSingleton<SessionStore>();
        services.AddSingleton<SessionServices>();
        services.AddSingleton<SessionHub>();
        services.AddHealthChecks().AddCheck<SpeechModelsHealthCheck>("speech-models");

        // Browsers cannot set headers on a WebSocket: the session stream also takes the token as ?access_token=.
        services.PostConfigure<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme, bearer =>
        {
            var previous = bearer.Events.OnMessageReceived;
            bearer.Events.OnMessageReceived = async context =>
            {
                await previous(context);
                var request = context.HttpContext.Request;
                if (context.Token is null && request.Path.StartsWithSegments("/voice/sessions") && request.Path.Value!.EndsWith("/stream", StringComparison.Ordinal)
                    && request.Query.TryGetValue("access_token", out var token))
                {
                    context.Token = token;
                }
            };
        });
        return builder;
    }
}

/// <summary>Degraded when endpointing fell back to energy (no Silero model) or speech-to-text cannot load.</summary>
public sealed class SpeechModelsHealthCheck(VoiceActivityModel vad, SphinxDecoderPool decoders) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object> { ["vad"] = vad.Kind };
        if (decoders.LoadError is { } error)
        {
            return Task.FromResult(HealthCheckResult.Degraded($"speech-to-text unavailable: {error}; {vad.Detail}", data: data));
        }

        return Task.FromResult(vad.Kind == "silero"
            ? HealthCheckResult.Healthy(vad.Detail, data)
            : HealthCheckResult.Degraded(vad.Detail, data: data));
    }
}
