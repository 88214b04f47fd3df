using Sunaiva.Media.Drive;
using Sunaiva.Media.Files;
using Sunaiva.Media.Videos;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Webhooks;
using Sunaiva.ServiceDefaults.Storage;

namespace Sunaiva.Media;

public static class Extensions
{
    public const string FilesBucket = "sunaiva-files";
    public const string VideosBucket = "sunaiva-videos";

    public static IHostApplicationBuilder AddMediaServices(this IHostApplicationBuilder builder)
    {
        builder.AddSunaivaBackbone(ResourceNames.MediaDb, typeof(Extensions).Assembly);
        builder.AddSunaivaStorage(FilesBucket, VideosBucket);
        builder.Services.AddOptions<FileVaultOptions>().BindConfiguration(FileVaultOptions.SectionName).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<FileVault>();
        builder.Services.AddSingleton<FileCleanupSignal>();
        builder.Services.AddSingleton<FileCleanup>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<FileCleanup>());
        builder.Services.AddHostedService<ScratchSweeper>();
        builder.AddFileVault();
        // Kestrel reads an upload in 64 KiB blocks instead of 4 KiB (see LargeBlockMemoryPoolFactory); registered after
        // Kestrel's own factory, so the container answers this one.
        builder.Services.AddSingleton<Microsoft.AspNetCore.Connections.IMemoryPoolFactory<byte>, LargeBlockMemoryPoolFactory>();
        builder.AddDrive();
        builder.AddVideoServices();
        return builder;
    }

    public static WebApplication MapMediaApi(this WebApplication app)
    {
        app.MapFilesApi();
        app.MapFileVaultApi();
        app.MapDriveApi();
        app.MapVideosApi();
        // POST /webhooks/{provider}: HeyGen's video events (and any later Media provider's) through the platform's inbox.
        app.MapWebhookInbox();
        return app;
    }
}
