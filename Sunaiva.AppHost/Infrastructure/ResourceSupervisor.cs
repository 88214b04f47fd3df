using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Sunaiva.AppHost.Infrastructure;

/// <summary>
/// Local mode has no container runtime to restart what crashed, and Aspire leaves an executable or project that
/// exited as it is. This watches every resource marked <see cref="SupervisedAnnotation"/>: when one goes from a
/// live state to Exited/Finished/FailedToStart without a stop having been asked for, it is started again with
/// Aspire's own start command after a back-off. Each restart is written to the resource's console log and shown
/// as properties (<c>supervisor.restarts</c>, <c>supervisor.last-exit-code</c>) in the dashboard.
/// </summary>
public sealed partial class ResourceSupervisor(
    DistributedApplicationModel model,
    ResourceNotificationService notifications,
    ResourceCommandService commands,
    ResourceLoggerService resourceLogs,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<ResourceSupervisor> logger) : BackgroundService
{
    public const string RestartsProperty = "supervisor.restarts";
    public const string LastExitCodeProperty = "supervisor.last-exit-code";

    private readonly ConcurrentDictionary<string, Tracker> _trackers = new(StringComparer.Ordinal);

    /// <summary>What was done for a resource so far (by resource name).</summary>
    public SupervisionRecord Record(string resourceName)
    {
        var tracker = _trackers.Values.FirstOrDefault(t => t.Resource.Name == resourceName);
        return tracker is null
            ? new SupervisionRecord(resourceName, 0, 0, null, null)
            : new SupervisionRecord(resourceName, tracker.Restarts, tracker.ConsecutiveFailures, tracker.LastExitCode, tracker.LastRestartAt);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var supervised = model.Resources.Where(r => r.Annotations.OfType<SupervisedAnnotation>().Any()).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        if (supervised.Count == 0)
        {
            return;
        }

        try
        {
            await foreach (var update in notifications.WatchAsync(stoppingToken))
            {
                if (supervised.Contains(update.Resource.Name))
                {
                    Observe(update, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private void Observe(ResourceEvent update, CancellationToken stoppingToken)
    {
        var tracker = _trackers.GetOrAdd(update.ResourceId, _ => new Tracker(update.Resource, update.Resource.Annotations.OfType<SupervisedAnnotation>().Last().Policy));
        var state = update.Snapshot.State?.Text;
        lock (tracker)
        {
            var previous = tracker.State;
            tracker.State = state;
            if (state == previous)
            {
                return;
            }

            if (state == KnownResourceStates.Running)
            {
                tracker.RunningSince = time.GetUtcNow();
                tracker.StopRequested = false;
                return;
            }

            if (state == KnownResourceStates.Stopping)
            {
                // A stop asked for from the dashboard or a command: leave the resource stopped.
                tracker.StopRequested = true;
                return;
            }

            var crashed = IsTerminal(state) && !IsTerminal(previous) && previous is not null && previous != KnownResourceStates.NotStarted;
            if (!crashed || tracker.StopRequested || tracker.RestartPending || lifetime.ApplicationStopping.IsCancellationRequested)
            {
                return;
            }

            var ranFor = tracker.RunningSince is { } since ? time.GetUtcNow() - since : TimeSpan.Zero;
            tracker.ConsecutiveFailures = ranFor >= tracker.Policy.StableAfter ? 1 : tracker.ConsecutiveFailures + 1;
            tracker.RunningSince = null;
            tracker.LastExitCode = update.Snapshot.ExitCode;
            tracker.RestartPending = true;
        }

        _ = RestartAsync(update.ResourceId, tracker, stoppingToken);
    }

    private async Task RestartAsync(string resourceId, Tracker tracker, CancellationToken stoppingToken)
    {
        var resourceLog = resourceLogs.GetLogger(tracker.Resource);
        int attempt;
        lock (tracker)
        {
            attempt = tracker.ConsecutiveFailures;
        }

        var delay = tracker.Policy.DelayBefore(attempt);
        var exitCode = tracker.LastExitCode?.ToString(CultureInfo.InvariantCulture) ?? "unknown";
        LogExited(resourceLog, exitCode, delay.TotalSeconds, attempt);
        LogExited(logger, tracker.Resource.Name, exitCode, delay.TotalSeconds, attempt);
        try
        {
            await Task.Delay(delay, time, stoppingToken);
            lock (tracker)
            {
                if (tracker.StopRequested || !IsTerminal(tracker.State))
                {
                    tracker.RestartPending = false;
                    return;
                }
            }

            var result = await commands.ExecuteCommandAsync(resourceId, KnownResourceCommands.StartCommand, stoppingToken);
            if (!result.Success)
            {
                result = await commands.ExecuteCommandAsync(resourceId, KnownResourceCommands.RestartCommand, stoppingToken);
            }

            int restarts;
            lock (tracker)
            {
                tracker.RestartPending = false;
                if (result.Success)
                {
                    tracker.Restarts++;
                    tracker.LastRestartAt = time.GetUtcNow();
                }

                restarts = tracker.Restarts;
            }

            if (result.Success)
            {
                LogRestarted(resourceLog, exitCode, attempt);
                LogRestarted(logger, tracker.Resource.Name, exitCode, attempt);
                await notifications.PublishUpdateAsync(tracker.Resource, resourceId, s => s with
                {
                    Properties = s.Properties
                        .RemoveAll(p => p.Name is RestartsProperty or LastExitCodeProperty)
                        .Add(new ResourcePropertySnapshot(RestartsProperty, restarts))
                        .Add(new ResourcePropertySnapshot(LastExitCodeProperty, exitCode)),
                });
            }
            else
            {
                LogStartFailed(resourceLog, attempt, result.Message ?? "no reason given");
                await RetryAfterFailedStartAsync(resourceId, tracker, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            LogStartFailed(resourceLog, attempt, ex.Message);
            await RetryAfterFailedStartAsync(resourceId, tracker, stoppingToken);
        }
    }

    // A start command that failed without a state change would otherwise leave the resource down for good.
    private async Task RetryAfterFailedStartAsync(string resourceId, Tracker tracker, CancellationToken stoppingToken)
    {
        lock (tracker)
        {
            if (tracker.StopRequested || !IsTerminal(tracker.State) || tracker.RestartPending)
            {
                tracker.RestartPending = false;
                return;
            }

            tracker.ConsecutiveFailures++;
            tracker.RestartPending = true;
        }

        await RestartAsync(resourceId, tracker, stoppingToken);
    }

    private static bool IsTerminal(string? state) =>
        state == KnownResourceStates.Exited || state == KnownResourceStates.Finished || state == KnownResourceStates.FailedToStart;

    private sealed class Tracker(IResource resource, SupervisionPolicy policy)
    {
        public IResource Resource { get; } = resource;

        public SupervisionPolicy Policy { get; } = policy;

        public string? State { get; set; }

        public DateTimeOffset? RunningSince { get; set; }

        public bool StopRequested { get; set; }

        public bool RestartPending { get; set; }

        public int ConsecutiveFailures { get; set; }

        public int Restarts { get; set; }

        public int? LastExitCode { get; set; }

        public DateTimeOffset? LastRestartAt { get; set; }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Exited unexpectedly (exit code {ExitCode}); the supervisor restarts it in {DelaySeconds} s (attempt {Attempt})")]
    private static partial void LogExited(ILogger logger, string exitCode, double delaySeconds, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Resource} exited unexpectedly (exit code {ExitCode}); restarting in {DelaySeconds} s (attempt {Attempt})")]
    private static partial void LogExited(ILogger logger, string resource, string exitCode, double delaySeconds, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Restarted after exit code {ExitCode}, attempt {Attempt}")]
    private static partial void LogRestarted(ILogger logger, string exitCode, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Resource} restarted after exit code {ExitCode}, attempt {Attempt}")]
    private static partial void LogRestarted(ILogger logger, string resource, string exitCode, int attempt);

    [LoggerMessage(Level = LogLevel.Error, Message = "Restart attempt {Attempt} failed: {Reason}")]
    private static partial void LogStartFailed(ILogger logger, int attempt, string reason);
}
