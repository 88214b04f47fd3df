using System.Security.Cryptography;
using System.Text;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Engagement.Email.Templates;

namespace Sunaiva.Engagement.Experiments;

/// <summary>The template a user gets for a campaign step, and the experiment phase it belongs to.</summary>
/// <param name="SendHour">The UTC hour a send-time variant goes out at (null: the step's own time).</param>
public sealed record VariantChoice(string Template, string? Experiment, string? Variant, string? Phase, int? SendHour = null);

/// <summary>Counts and rates of one variant.</summary>
public sealed record VariantStats(string Name, string Template, int? SendHour, long Sent, long Opens, long Clicks, long Conversions, double OpenRate, double ClickRate, double ConversionRate);

/// <summary>An experiment as ops see it: per-variant counts and rates, the leader's uplift over the control and the test's confidence.</summary>
public sealed record ExperimentReport(
    string Id, string Template, string Metric, double RequiredConfidence, int MinSamplePerVariant, string Status,
    string? Winner, string? Leader, double Uplift, double Confidence, double Z, DateTimeOffset? DecidedAt, long RolledOut, IReadOnlyList<VariantStats> Variants);

/// <summary>
/// A/B tests of campaign steps. While an experiment runs, each user is assigned a variant by a hash of experiment id and
/// user id (stable across retries and replicas); the sends are evaluated every <c>EvaluateEvery</c> with a two-proportion
/// z-test of the leader against the control, and once the configured confidence is reached with enough sends per variant,
/// the winner is recorded and every later user gets it (phase <c>rollout</c>).
/// </summary>
public sealed class ExperimentService(IOptions<ExperimentsOptions> options, EmailTemplateEngine templates, TimeProvider time)
{
    public const string TestPhase = "test";
    public const string RolloutPhase = "rollout";

    public IReadOnlyCollection<ExperimentOptions> All => options.Value.Items.Values;

    public ExperimentOptions? Find(string id) => options.Value.Items.GetValueOrDefault(id);

    /// <summary>Chooses in the caller's transaction (which queues the message).</summary>
    public async Task<VariantChoice> ChooseAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string template, string userId, string? language, CancellationToken ct)
    {
        var experiment = options.Value.ForTemplate(template);
        if (experiment is null)
        {
            return new VariantChoice(template, null, null, null);
        }

        // Only users every variant can speak to take part: a variant must never fall back to another language.
        var lang = templates.ResolveLanguage(template, language);
        if (experiment.Variants.Any(v => templates.ResolveLanguage(v.Template, language) != lang))
        {
            return new VariantChoice(template, null, null, null);
        }

        var winner = await DecideAsync(connection, tx, experiment, ct);
        if (winner is not null && experiment.Variants.FirstOrDefault(v => v.Name == winner) is { } won)
        {
            return new VariantChoice(won.Template, experiment.Id, won.Name, RolloutPhase, won.SendHour);
        }

        var variant = experiment.Variants[Bucket(experiment.Id, userId, experiment.Variants.Count)];
        return new VariantChoice(variant.Template, experiment.Id, variant.Name, TestPhase, variant.SendHour);
    }

    /// <summary>Deterministic assignment: the first 8 bytes of SHA-256(experiment:user) modulo the number of variants.</summary>
    public static int Bucket(string experimentId, string userId, int variants) =>
        (int)(BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes($"{experimentId}:{userId}")), 0) % (ulong)variants);

    /// <summary>The winner, deciding it now when the test is due for evaluation and significant.</summary>
    private async Task<string?> DecideAsync(NpgsqlConnection connection, NpgsqlTransaction tx, ExperimentOptions experiment, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO experiments (id) VALUES (@Id) ON CONFLICT DO NOTHING", experiment, tx, cancellationToken: ct));
        // Locks the experiment's row for this transaction: one evaluation at a time, and the decision is seen by all.
        var state = await connection.QuerySingleAsync<State>(new CommandDefinition(
            "SELECT winner, evaluated_at AS evaluatedat FROM experiments WHERE id = @Id FOR UPDATE", experiment, tx, cancellationToken: ct));
        if (state.Winner is not null)
        {
            return state.Winner;
        }

        if (state.EvaluatedAt is { } last && now - last < experiment.EvaluateEvery)
        {
            return null;
        }

        var report = await ReportAsync(connection, tx, experiment, ct);
        if (report.Leader is { } leader && report.Confidence >= experiment.Confidence
            && report.Variants.All(v => v.Sent >= experiment.MinSamplePerVariant))
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE experiments SET winner = @leader, confidence = @confidence, decided_at = @now, evaluated_at = @now WHERE id = @Id",
                new { experiment.Id, leader, confidence = report.Confidence, now }, tx, cancellationToken: ct));
            return leader;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE experiments SET evaluated_at = @now WHERE id = @Id", new { experiment.Id, now }, tx, cancellationToken: ct));
        return null;
    }

    public async Task<ExperimentReport> ReportAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, ExperimentOptions experiment, CancellationToken ct)
    {
        var rows = (await connection.QueryAsync<CountRow>(new CommandDefinition(
            """
            SELECT e.variant,
                   count(*) AS sent,
                   count(*) FILTER (WHERE e.first_opened_at IS NOT NULL) AS opens,
                   count(*) FILTER (WHERE e.first_clicked_at IS NOT NULL) AS clicks,
                   count(*) FILTER (WHERE a.first_at >= e.queued_at AND a.first_at < e.queued_at + make_interval(days => @ConversionDays)) AS conversions
            FROM sent_emails e
            LEFT JOIN user_activity a ON a.user_id = e.user_id AND a.activity = 'subscription'
            WHERE e.experiment = @Id AND e.experiment_phase = 'test' AND e.status IN ('queued', 'sent')
            GROUP BY e.variant
            """,
            experiment, tx, cancellationToken: ct))).ToDictionary(r => r.Variant, StringComparer.Ordinal);
        var state = await connection.QuerySingleOrDefaultAsync<Decision>(new CommandDefinition(
            "SELECT winner, decided_at AS decidedat FROM experiments WHERE id = @Id", experiment, tx, cancellationToken: ct));
        var rolledOut = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT count(*) FROM sent_emails WHERE experiment = @Id AND experiment_phase = 'rollout'", experiment, tx, cancellationToken: ct));

        var stats = experiment.Variants.Select(v =>
        {
            var r = rows.GetValueOrDefault(v.Name) ?? new CountRow(v.Name, 0, 0, 0, 0);
            return new VariantStats(v.Name, v.Template, v.SendHour, r.Sent, r.Opens, r.Clicks, r.Conversions,
                Rate(r.Opens, r.Sent), Rate(r.Clicks, r.Sent), Rate(r.Conversions, r.Sent));
        }).ToList();

        long Successes(VariantStats s) => experiment.Metric switch
        {
            ExperimentMetrics.Opens => s.Opens,
            ExperimentMetrics.Conversions => s.Conversions,
            _ => s.Clicks,
        };

        var control = stats[0];
        var best = stats.MaxBy(s => Rate(Successes(s), s.Sent))!;
        // The leader is tested against the control; when the control leads, against the best challenger.
        var other = best == control ? stats.Skip(1).MaxBy(s => Rate(Successes(s), s.Sent))! : control;
        var test = ZTest.Compare(Successes(other), other.Sent, Successes(best), best.Sent);
        var controlRate = Rate(Successes(control), control.Sent);
        var uplift = controlRate == 0 ? 0 : (Rate(Successes(best), best.Sent) - controlRate) / controlRate;
        var leader = Rate(Successes(best), best.Sent) > Rate(Successes(other), other.Sent) ? best.Name : null;
        return new ExperimentReport(
            experiment.Id, experiment.Template, experiment.Metric, experiment.Confidence, experiment.MinSamplePerVariant,
            state?.Winner is null ? "running" : "decided", state?.Winner, leader, uplift, test.Confidence, test.Z,
            state?.DecidedAt is { } d ? new DateTimeOffset(d, TimeSpan.Zero) : null, rolledOut, stats);
    }

    private static double Rate(long part, long whole) => whole == 0 ? 0 : (double)part / whole;

    private sealed record State(string? Winner, DateTime? EvaluatedAt);

    private sealed record Decision(string? Winner, DateTime? DecidedAt);

    private sealed record CountRow(string Variant, long Sent, long Opens, long Clicks, long Conversions);
}
