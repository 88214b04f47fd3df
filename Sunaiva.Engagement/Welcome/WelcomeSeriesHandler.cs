using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Engagement.Email;
using Sunaiva.Engagement.Experiments;
using Sunaiva.Messaging.Work;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;

namespace Sunaiva.Engagement.Welcome;

/// <summary>
/// Starts a user's welcome series on <c>user.signed_up</c>, in the event's transaction: the day-0 email is queued at once,
/// each later step becomes delayed work (<see cref="WelcomeStepWork"/>) due on its day, which decides then whether to send.
/// </summary>
public sealed class WelcomeSeriesHandler(EmailOutbox outbox, ExperimentService experiments, WorkQueue work, IOptions<WelcomeSeriesOptions> options) : IIntegrationEventHandler
{
    public IReadOnlyCollection<string> EventTypes { get; } = [Sunaiva.Contracts.EventTypes.UserSignedUp];

    public async Task HandleAsync(IntegrationEvent integrationEvent, NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var user = integrationEvent.DataAs<UserSignedUp>();
        var steps = options.Value.Steps;
        var now = integrationEvent.OccurredAt;
        for (var i = 0; i < steps.Count; i++)
        {
            var step = steps[i];
            var due = now.AddDays(step.Day);
            var recorded = await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO welcome_steps (user_id, step, template, due_at) VALUES (@id, @i, @template, @due) ON CONFLICT DO NOTHING",
                new { id = user.Id, i, template = step.Template, due }, transaction, cancellationToken: cancellationToken));
            if (recorded == 0)
            {
                continue;
            }

            if (step.Day == 0 && step.StopWhen == WelcomeActivities.None)
            {
                await WelcomeStepWork.QueueEmailAsync(outbox, experiments, connection, transaction, user.Id, user.Email, user.Name, user.Language, i, step.Template, cancellationToken);
                await WelcomeStepWork.DecideAsync(connection, transaction, user.Id, i, "queued", now, cancellationToken);
                continue;
            }

            await work.EnqueueAsync(connection, transaction, new NewWork(
                WelcomeStepWork.WorkKind,
                $"welcome:{user.Id}:{i}",
                JsonSerializer.Serialize(new WelcomeStepPayload(user.Id, i), EventJson.Options),
                PartitionKey: "user:" + user.Id,
                RunAt: due), cancellationToken);
        }
    }
}

/// <summary>Payload of a <c>welcome.step</c> work item.</summary>
public sealed record WelcomeStepPayload(string UserId, int Step);
