using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.StackExchangeRedis;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using Sunaiva.Integration;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Drive;

/// <summary>Registration of the Google Drive feature.</summary>
public static class DriveExtensions
{
    /// <summary>The Redis key holding Media's Data Protection key ring (it protects Drive tokens at rest).</summary>
    public const string DataProtectionKeys = "sunaiva:media:data-protection-keys";

    public static IHostApplicationBuilder AddDrive(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<DriveOptions>().BindConfiguration(DriveOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();

        // Tokens are protected with keys kept in the shared Redis (the connection AddSunaivaBackbone registered), so every
        // replica reads what another wrote; the keys never sit in the same store as the ciphertexts (Postgres).
        builder.Services.AddDataProtection().SetApplicationName("sunaiva-media");
        builder.Services.AddOptions<KeyManagementOptions>().Configure<IConnectionMultiplexer>((o, redis) =>
            o.XmlRepository = new RedisXmlRepository(() => redis.GetDatabase(), DataProtectionKeys));

        // The kernel's provider chain is the only resilience layer: no standard handler retrying 429s behind its back, and
        // downloads stream past the 10 s attempt timeout once their headers arrived.
        builder.Services.AddHttpClient<GoogleDriveClient>(GoogleDriveClient.HttpClientName).AsStreamingClient();
        builder.Services.AddProviderChain<IDriveProvider>(DriveGateway.Capability).AddAdapter<GoogleDriveClient>();

        builder.Services.AddSingleton<DriveConnectionStore>();
        builder.Services.AddSingleton<DriveOAuthState>();
        builder.Services.AddSingleton<DriveImportStore>();
        builder.Services.AddSingleton<DriveGateway>();
        builder.Services.AddSingleton<IDriveImportTarget, FileVaultImportTarget>();
        builder.Services.AddWorkHandler<DriveImportWork>();
        builder.Services.AddWorkHandler<DriveSyncWork>();
        builder.Services.AddWorkHandler<DriveRevokeWork>();
        builder.Services.PostConfigure<WorkOptions>(o => o.Kinds.TryAdd(DriveRevokeWork.WorkKind.Replace(':', '.'), DriveRevokeWork.Policy));
        builder.Services.AddWebhookProvider<DriveWebhookProvider, DriveWebhookProcessor>();
        builder.Services.AddExceptionHandler<DriveExceptionHandler>();
        return builder;
    }

    /// <summary>Maps <c>/drive</c>; Drive's push notifications arrive at the webhook inbox Media maps once (<c>POST /webhooks/google-drive</c>).</summary>
    public static IEndpointRouteBuilder MapDriveApi(this IEndpointRouteBuilder app)
    {
        app.MapDriveEndpoints();
        return app;
    }
}

/// <summary>Drive outcomes that reach an endpoint as exceptions: rate limit 503 + Retry-After, lost grant 409, no connection 404.</summary>
internal sealed class DriveExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        (int Status, string Title, string Detail)? answer = exception switch
        {
            RetryLaterException later => (503, "Google Drive asks us to slow down", $"Try again in {Math.Ceiling(later.Delay.TotalSeconds)} s."),
            DriveReconsentRequiredException => (409, "Drive needs to be connected again", "Google no longer accepts this connection's grant; connect Drive again."),
            DriveNotConnectedException => (404, "No Drive connection", "Connect Google Drive first (POST /drive/connect)."),
            _ => null,
        };
        if (answer is not { } a)
        {
            return false;
        }

        httpContext.Response.StatusCode = a.Status;
        if (exception is RetryLaterException retry)
        {
            httpContext.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.Delay.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = new Microsoft.AspNetCore.Mvc.ProblemDetails { Status = a.Status, Title = a.Title, Detail = a.Detail },
            Exception = exception,
        });
    }
}
