using Sunaiva.Media.Extraction;
using Sunaiva.Media.Search;
using Sunaiva.Integration;
using Sunaiva.Messaging.Events;
using Sunaiva.ServiceDefaults.Mcp;

namespace Sunaiva.Media.Files;

public static class FileVaultExtensions
{
    /// <summary>Streaming ingestion, resumable uploads, extraction work, search and the MCP tools of the file vault.</summary>
    public static IHostApplicationBuilder AddFileVault(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<FileIngestion>();
        builder.Services.AddSingleton<ResumableUploads>();
        builder.Services.AddSingleton<UploadGate>();
        builder.Services.AddSingleton<UploadSweeper>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<UploadSweeper>());
        builder.Services.AddSingleton<TextExtraction>();
        builder.Services.AddWorkHandler<ExtractWork>();
        builder.Services.AddWorkHandler<TranscribeWork>();
        builder.Services.PostConfigure<Sunaiva.Messaging.Work.WorkOptions>(o => o.Kinds.TryAdd(TranscribeWork.WorkKind, TranscribeWork.Policy));
        // Audio transcription by Voice (capability "transcription"); without Voice wired, audio stays awaiting_transcription.
        builder.Services.AddHttpClient<VoiceServiceTranscriber>(VoiceServiceTranscriber.HttpClientName, (sp, client) =>
            client.BaseAddress = new Uri(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<FileVaultOptions>>().Value.VoiceBaseUrl)).AsStreamingClient();
        builder.Services.AddProviderChain<ITranscriptionProvider>(AudioTranscription.Capability).AddAdapter<VoiceServiceTranscriber>();
        builder.Services.AddSingleton<AudioTranscription>();
        builder.Services.AddMemoryCache();
        builder.Services.AddSingleton<SearchCache>();
        builder.Services.AddKeyedSingleton(FileSearch.DataSourceKey, (_, _) =>
            FileSearch.CreateDataSource(builder.Configuration.GetConnectionString(ResourceNames.MediaDb)!));
        builder.Services.AddSingleton<FileSearch>();
        builder.AddSunaivaMcp(mcp => mcp.WithTools<Sunaiva.Media.Mcp.FileTools>());
        return builder;
    }

    /// <summary><c>/search</c> and the MCP endpoint <c>/mcp</c>.</summary>
    public static WebApplication MapFileVaultApi(this WebApplication app)
    {
        app.MapSearchApi();
        app.MapSunaivaMcp();
        return app;
    }
}
