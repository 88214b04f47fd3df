using Dapper;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Engagement.Welcome;

/// <summary>The fields of <c>voice.session.ended</c> Engagement reads (Voice owns the full shape).</summary>
public sealed record VoiceSessionEndedData(string UserId);

/// <summary>The fields of <c>file.indexed</c> Engagement reads (Media owns the full shape).</summary>
public sealed record FileIndexedData(string UserId);

/// <summary>The fields of <c>subscription.activated</c> Engagement reads (Billing's <c>SubscriptionChanged</c>).</summary>
public sealed record SubscriptionActivatedData(string UserId);

/// <summary>
/// <c>video.ready</c>: an onboarding video made for a user. <paramref name="Url"/> is the file, <paramref name="WatchUrl"/>
/// a page to watch it on; emails link the watch page when there is one.
/// </summary>
/// <param name="Kind">What the video is about ("welcome", "voice-tour", "memory-vault").</param>
public sealed record VideoReady(string UserId, string VideoId, string Kind, string? Url, string? WatchUrl);

/// <summary>
/// Records, in Engagement's own tables, what users did that its emails ask for (tried voice, uploaded a file, subscribed)
/// and the onboarding videos made for them. Database work only, in the event's transaction.
/// </summary>
public sealed class ActivityHandler : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } =
    [
        Sunaiva.Contracts.EventTypes.VoiceSessionEnded, Sunaiva.Contracts.EventTypes.FileIndexed,
        Sunaiva.Contracts.EventTypes.SubscriptionActivated, Sunaiva.Contracts.EventTypes.VideoReady,
    ];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        if (integrationEvent.Type == Sunaiva.Contracts.EventTypes.VideoReady)
        {
            var video = integrationEvent.DataAs<VideoReady>();
            var url = video.WatchUrl ?? video.Url;
            if (string.IsNullOrEmpty(url) || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            {
                return;
            }

            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO user_videos (user_id, video_id, kind, url, ready_at) VALUES (@UserId, @VideoId, @Kind, @url, @at)
                ON CONFLICT (user_id, video_id) DO UPDATE SET url = EXCLUDED.url, kind = EXCLUDED.kind
                """,
                new { video.UserId, video.VideoId, video.Kind, url, at = integrationEvent.OccurredAt }, transaction, cancellationToken: cancellationToken));
            return;
        }

        var (userId, activity) = integrationEvent.Type switch
        {
            Sunaiva.Contracts.EventTypes.VoiceSessionEnded => (integrationEvent.DataAs<VoiceSessionEndedData>().UserId, WelcomeActivities.Voice),
            Sunaiva.Contracts.EventTypes.FileIndexed => (integrationEvent.DataAs<FileIndexedData>().UserId, WelcomeActivities.File),
            _ => (integrationEvent.DataAs<SubscriptionActivatedData>().UserId, WelcomeActivities.Subscription),
        };
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO user_activity (user_id, activity, first_at, last_at) VALUES (@userId, @activity, @at, @at)
            ON CONFLICT (user_id, activity) DO UPDATE SET last_at = GREATEST(user_activity.last_at, EXCLUDED.last_at),
                                                          occurrences = user_activity.occurrences + 1
            """,
            new { userId, activity, at = integrationEvent.OccurredAt }, transaction, cancellationToken: cancellationToken));
    }
}
