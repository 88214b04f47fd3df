using Sunaiva.Messaging.Work;

namespace Sunaiva.Media.Extraction;

/// <summary>
/// An audio file whose transcription found no transcriber answering (kind <c>file.transcribe</c>, payload the file id):
/// runs the extraction again with transcription required, retried with back-off until Voice answers; the file stays
/// searchable by name meanwhile.
/// </summary>
public sealed class TranscribeWork(ExtractWork extract) : IWorkHandler
{
    public const string WorkKind = "file.transcribe";

    /// <summary>Voice may be down for long: back-off to an hour, for about a week.</summary>
    public static readonly WorkPolicy Policy = new() { MaxAttempts = 180, BaseDelay = TimeSpan.FromSeconds(10), MaxDelay = TimeSpan.FromHours(1) };

    public string Kind => WorkKind;

    public static NewWork For(string fileId) => new(WorkKind, $"{WorkKind}:{fileId}", fileId);

    public Task HandleAsync(WorkContext context, CancellationToken cancellationToken) => extract.RunAsync(context, transcriptionRetry: true, cancellationToken);
}
