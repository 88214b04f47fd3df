using System.Globalization;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Sunaiva.Contracts;
using Sunaiva.Messaging.Events;
using Sunaiva.Messaging.Work;
using Sunaiva.ServiceDefaults.Data;

namespace Sunaiva.Engagement.Reports;

/// <summary>Payload of <c>reports.monthly</c>: the month whose reports are due.</summary>
public sealed record MonthlyReports(string Period);

/// <summary>
/// The monthly run (kind <c>reports.monthly</c>, key <c>reports.monthly:{period}</c>, due on <c>MonthlyDay</c> of the next
/// month): in one transaction, one <c>report.influencer</c> item per known influencer, and the next month's run.
/// A scheduled work item, not a timer in memory: it survives restarts and runs once across replicas.
/// </summary>
public sealed class MonthlyReportsWork(WorkQueue work, IOptions<ReportsOptions> options) : IWorkHandler
{
    public const string WorkKind = "reports.monthly";

    public string Kind => WorkKind;

    public static NewWork For(string period, ReportsOptions o)
    {
        var due = new DateTimeOffset(InfluencerReport.Start(period).AddMonths(1).AddDays(o.MonthlyDay - 1).AddHours(o.MonthlyHour), TimeSpan.Zero);
        return new NewWork(WorkKind, $"{WorkKind}:{period}", JsonSerializer.Serialize(new MonthlyReports(period), EventJson.Options), RunAt: due);
    }

    public static string Next(string period) => InfluencerReport.Start(period).AddMonths(1).ToString("yyyy-MM", CultureInfo.InvariantCulture);

    public async Task HandleAsync(WorkContext context, CancellationToken cancellationToken)
    {
        var run = JsonSerializer.Deserialize<MonthlyReports>(context.Item.Payload, EventJson.Options)
            ?? throw new PermanentWorkFailureException("empty monthly run");
        await context.CommitAsync(async (connection, tx, ct) =>
        {
            var codes = (await connection.QueryAsync<string>(new CommandDefinition(
                "SELECT referral_code FROM influencers ORDER BY referral_code", transaction: tx, cancellationToken: ct))).ToList();
            if (options.Value.Monthly && codes.Count > 0)
            {
                await work.EnqueueAsync(connection, tx, codes.Select(c => InfluencerReportWork.For(c, run.Period, InfluencerReportWork.Monthly)).ToList(), ct);
            }

            await work.EnqueueAsync(connection, tx, For(Next(run.Period), options.Value), ct);
        }, cancellationToken);
    }
}

/// <summary>At start (after the migrations): makes sure the current month's run is scheduled (idempotent by key).</summary>
public sealed class MonthlyReportsSchedule(NpgsqlDataSource dataSource, WorkQueue work, IOptions<ReportsOptions> options, TimeProvider time) : IStartupTask
{
    public int Order => 100;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await work.EnqueueAsync(connection, null, MonthlyReportsWork.For(InfluencerLedgerHandler.Period(time.GetUtcNow()), options.Value), cancellationToken);
    }
}
