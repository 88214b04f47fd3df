namespace Sunaiva.Media;

/// <summary>
/// Removes Media's scratch entries in the temp directory that a killed process left behind: a render's folder
/// (<c>sunaiva-video-*</c>, <c>sunaiva-heygen-*</c>) and an extraction's spill file (<c>sunaiva-extract-*</c>) are deleted by
/// their owner when it finishes or fails, but a kill -9 leaves them. An entry is removed once nothing in it was written for
/// <see cref="MaxAge"/>: longer than any render (<c>Videos:RenderTimeout</c> is at most 30 minutes) or extraction may run, so
/// a replica sharing the temp directory never loses a scratch folder still in use. Idleness is measured on the system clock,
/// the one the file system writes times with: the injected <see cref="TimeProvider"/> only paces the rounds (a test moves it
/// hours ahead, and a sweep on that clock would remove the scratch of every render running on the machine).
/// </summary>
public sealed partial class ScratchSweeper(TimeProvider time, ILogger<ScratchSweeper> logger) : BackgroundService
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromHours(1);

    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(10);

    public const string VideoPrefix = "sunaiva-video-";
    public const string HeyGenPrefix = "sunaiva-heygen-";
    public const string ExtractPrefix = "sunaiva-extract-";

    /// <summary>The directory scratch entries live in (the temp path; a test points it elsewhere).</summary>
    public string Root { get; init; } = Path.GetTempPath();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var removed = Sweep();
            if (removed > 0)
            {
                LogSwept(logger, removed);
            }

            try
            {
                await Task.Delay(Interval, time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>One pass; returns how many entries were removed.</summary>
    public int Sweep()
    {
        var before = TimeProvider.System.GetUtcNow().UtcDateTime - MaxAge;
        var removed = 0;
        var root = new DirectoryInfo(Root);
        foreach (var folder in root.EnumerateDirectories(VideoPrefix + "*").Concat(root.EnumerateDirectories(HeyGenPrefix + "*")))
        {
            removed += TryRemove(folder, () => LastWrite(folder) < before);
        }

        foreach (var file in root.EnumerateFiles(ExtractPrefix + "*"))
        {
            removed += TryRemove(file, () => file.LastWriteTimeUtc < before);
        }

        return removed;
    }

    private static DateTime LastWrite(DirectoryInfo folder)
    {
        var last = folder.LastWriteTimeUtc;
        foreach (var file in folder.EnumerateFiles("*", SearchOption.AllDirectories))
        {
            if (file.LastWriteTimeUtc > last)
            {
                last = file.LastWriteTimeUtc;
            }
        }

        return last;
    }

    private int TryRemove(FileSystemInfo entry, Func<bool> stale)
    {
        try
        {
            if (!stale())
            {
                return 0;
            }

            if (entry is DirectoryInfo folder)
            {
                folder.Delete(recursive: true);
            }
            else
            {
                entry.Delete();
            }

            return 1;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Gone already (another replica swept it) or not ours to remove: the others are swept regardless.
            LogEntryFailed(logger, entry.Name, ex.GetType().Name);
            return 0;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Removed {Count} scratch entries left by a killed render or extraction")]
    private static partial void LogSwept(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Scratch entry {Name} could not be removed ({ExceptionType}); retrying next round")]
    private static partial void LogEntryFailed(ILogger logger, string name, string exceptionType);
}
