using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Media.Videos;

/// <summary>
/// <c>user.signed_up</c>: keeps the profile the scripts need and queues the three onboarding videos in the default
/// style. Database only, inside the event's transaction; the renders are work items of their own.
/// </summary>
public sealed class SignupVideosHandler(VideoStore store, IOptions<VideoOptions> options) : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } = [Sunaiva.Contracts.EventTypes.UserSignedUp];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var user = integrationEvent.DataAs<UserSignedUp>();
        if (string.IsNullOrWhiteSpace(user.Id) || user.Id.Length > 200)
        {
            return;
        }

        var profile = VideoProfile.From(user.Name, user.Goals, user.Language, user.Voice);
        await store.UpsertProfileAsync(connection, transaction, user.Id, profile, overwrite: true, cancellationToken);
        await store.EnsureOnboardingAsync(connection, transaction, user.Id, options.Value.DefaultStyle, cancellationToken);
    }
}
