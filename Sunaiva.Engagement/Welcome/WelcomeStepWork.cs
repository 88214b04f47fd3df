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
/// A later step of the welcome series, run when due (kind <c>welcome.step</c>): skipped when the user already did what the
/// email asks (recorded by <see cref="ActivityHandler"/>), queued otherwise, in one transaction with the item's completion.
/// </summary>
public sealed class WelcomeStepWork(EmailOutbox outbox, ExperimentService experiments, IOptions<WelcomeSeriesOptions> options, TimeProvider time) : IWorkHandler
{
    public const string WorkKind = "welcome.step";

    public string Kind => WorkKind;

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var payload = JsonSerializer.Deserialize<WelcomeStepPayload>(context.Item.Payload, EventJson.Options)
            ?? throw new PermanentWorkFailureException("empty welcome step");
        var steps = options.Value.Steps;
        var stopWhen = payload.Step < steps.Count ? steps[payload.Step].StopWhen : WelcomeActivities.None;
        await context.CommitAsync(async (connection, tx, ct) =>
        {
            var step = await connection.QuerySingleOrDefaultAsync<StepRow>(new CommandDefinition(
                """
                SELECT s.template, s.outcome, u.email, u.name, u.language
                FROM welcome_steps s JOIN users u ON u.id = s.user_id
                WHERE s.user_id = @UserId AND s.step = @Step FOR UPDATE OF s
                """,
                payload, tx, cancellationToken: ct));
            if (step is null || step.Outcome is not null)
            {
                return;
            }

            var done = stopWhen != WelcomeActivities.None && await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM user_activity WHERE user_id = @UserId AND activity = @stopWhen)",
                new { payload.UserId, stopWhen }, tx, cancellationToken: ct));
            if (done)
            {
                await DecideAsync(connection, tx, payload.UserId, payload.Step, "skipped:" + stopWhen, time.GetUtcNow(), ct);
                return;
            }

            await QueueEmailAsync(outbox, experiments, connection, tx, payload.UserId, step.Email, step.Name, step.Language, payload.Step, step.Template, ct);
            await DecideAsync(connection, tx, payload.UserId, payload.Step, "queued", time.GetUtcNow(), ct);
        }, cancellationToken);
    }

    internal static async Task QueueEmailAsync(EmailOutbox outbox, ExperimentService experiments, NpgsqlConnection connection, NpgsqlTransaction tx, string userId, string email, string? name, string? language, int step, string template, CancellationToken ct)
    {
        var kind = $"welcome-{step + 1}";
        if (await EmailOutbox.ExistsAsync(connection, tx, userId, kind, ct))
        {
            return;
        }

        var choice = await experiments.ChooseAsync(connection, tx, template, userId, language, ct);
        var videos = (await connection.QueryAsync<VideoRow>(new CommandDefinition(
            "SELECT kind, url FROM user_videos WHERE user_id = @userId ORDER BY ready_at, video_id", new { userId }, tx, cancellationToken: ct)))
            .Select(v => (object)new Dictionary<string, object?> { ["kind"] = v.Kind, ["url"] = v.Url, ["title"] = VideoTitle(v.Kind) })
            .ToList();
        await outbox.QueueAsync(connection, tx, new EmailRequest(
            userId, kind, choice.Template, EmailCategories.Onboarding, email, name, language,
            new Dictionary<string, object?> { ["videos"] = videos }, choice.Variant, choice.Experiment, choice.Phase), ct);
    }

    internal static Task DecideAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string userId, int step, string outcome, DateTimeOffset at, CancellationToken ct) =>
        connection.ExecuteAsync(new CommandDefinition(
            "UPDATE welcome_steps SET outcome = @outcome, decided_at = @at WHERE user_id = @userId AND step = @step AND outcome IS NULL",
            new { userId, step, outcome, at }, tx, cancellationToken: ct));

    private static string VideoTitle(string kind) =>
        string.IsNullOrEmpty(kind) ? "Video" : char.ToUpperInvariant(kind[0]) + kind[1..].Replace('-', ' ');

    private sealed record StepRow(string Template, string? Outcome, string Email, string? Name, string? Language);

    private sealed record VideoRow(string Kind, string Url);
}
