using System.Globalization;
using System.Text;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;
using Sunaiva.ServiceDefaults.Auth;
using Sunaiva.ServiceDefaults.OpenApi;

namespace Sunaiva.Billing.Reports;

public sealed record MrrLine(string Currency, long MonthlyAmount, int Subscriptions);

public sealed record PeriodLine(
    string Period,
    int NewSubscriptions,
    int ChurnedSubscriptions,
    int FailedPayments,
    int RecoveredPayments,
    long CommissionsEarnedUsd,
    long ClawbacksUsd,
    long PayoutsPaidUsd,
    long PayoutsFailedUsd);

public sealed record BillingReport(
    DateTimeOffset GeneratedAt,
    int ActiveSubscriptions,
    int PastDueSubscriptions,
    IReadOnlyList<MrrLine> Mrr,
    long CommissionsOwedUsd,
    IReadOnlyList<PeriodLine> Periods);

/// <summary>Ops reports: MRR, active and churned subscriptions, failed payments, commissions owed and paid per period.</summary>
public static class ReportsApi
{
    public static RouteGroupBuilder MapReportsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/ops/billing/reports").RequireOps().WithTags("Billing reports");
        group.MapGet("/", GetAsync).ProducesProblems(StatusCodes.Status400BadRequest)
            .WithSummary("Billing report: MRR, subscriptions, failed payments, commissions and payouts per month")
            .WithDescription("format=json (default) answers the report below; format=csv answers the same figures as text/csv. months is between 1 and 120.");
        return group;
    }

    private static async Task<Results<Ok<BillingReport>, FileContentHttpResult, ProblemHttpResult>> GetAsync(
        NpgsqlDataSource dataSource, TimeProvider time, CancellationToken ct, string? format = null, int months = 12)
    {
        if (months is < 1 or > 120)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid months", detail: "months is between 1 and 120.");
        }

        var report = await BuildAsync(dataSource, time.GetUtcNow(), months, ct);
        if (string.Equals(format, "csv", StringComparison.OrdinalIgnoreCase))
        {
            return TypedResults.File(Encoding.UTF8.GetBytes(ToCsv(report)), "text/csv", $"billing-report-{report.GeneratedAt:yyyyMMdd}.csv");
        }

        return format is null || string.Equals(format, "json", StringComparison.OrdinalIgnoreCase)
            ? TypedResults.Ok(report)
            : TypedResults.Problem(statusCode: 400, title: "Invalid format", detail: "format is json or csv.");
    }

    public static async Task<BillingReport> BuildAsync(NpgsqlDataSource dataSource, DateTimeOffset now, int months, CancellationToken ct)
    {
        var since = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(-(months - 1));
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var counts = await connection.QuerySingleAsync<(long Active, long PastDue)>(new CommandDefinition(
            "SELECT COUNT(*) FILTER (WHERE status IN ('active','trialing')), COUNT(*) FILTER (WHERE status = 'past_due') FROM billing_subscriptions",
            cancellationToken: ct));
        var mrr = (await connection.QueryAsync<MrrLine>(new CommandDefinition(
            """
            SELECT currency, SUM(CASE WHEN interval = 'year' THEN unit_amount / 12 ELSE unit_amount END)::bigint AS monthlyamount, COUNT(*)::int AS subscriptions
            FROM billing_subscriptions WHERE status IN ('active','trialing','past_due') AND currency IS NOT NULL AND unit_amount IS NOT NULL
            GROUP BY currency ORDER BY currency
            """,
            cancellationToken: ct))).ToList();
        var owed = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            SELECT (COALESCE((SELECT SUM(amount_usd) FROM commission_entries), 0)
                  - COALESCE((SELECT SUM(amount_usd) FROM payouts WHERE status IN ('sent','pending')), 0))::bigint
            """,
            cancellationToken: ct));
        var periods = (await connection.QueryAsync<PeriodLine>(new CommandDefinition(
            """
            WITH months AS (SELECT to_char(m, 'YYYY-MM') AS period FROM generate_series(@since::timestamptz, @now::timestamptz, interval '1 month') m)
            SELECT m.period,
              (SELECT COUNT(*) FROM billing_subscriptions s WHERE to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM') = m.period)::int AS newsubscriptions,
              (SELECT COUNT(*) FROM billing_subscriptions s WHERE s.ended_at IS NOT NULL AND to_char(s.ended_at AT TIME ZONE 'UTC', 'YYYY-MM') = m.period)::int AS churnedsubscriptions,
              (SELECT COUNT(*) FROM billing_payment_failures f WHERE to_char(f.failed_at AT TIME ZONE 'UTC', 'YYYY-MM') = m.period)::int AS failedpayments,
              (SELECT COUNT(*) FROM billing_payment_failures f WHERE f.recovered_at IS NOT NULL AND to_char(f.recovered_at AT TIME ZONE 'UTC', 'YYYY-MM') = m.period)::int AS recoveredpayments,
              (SELECT COALESCE(SUM(amount_usd), 0) FROM commission_entries c WHERE c.amount_usd > 0 AND to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM') = m.period)::bigint AS commissionsearnedusd,
              (SELECT COALESCE(-SUM(amount_usd), 0) FROM commission_entries c WHERE c.amount_usd < 0 AND to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM') = m.period)::bigint AS clawbacksusd,
              (SELECT COALESCE(SUM(amount_usd), 0) FROM payouts p WHERE p.status = 'sent' AND p.period = m.period)::bigint AS payoutspaidusd,
              (SELECT COALESCE(SUM(amount_usd), 0) FROM payouts p WHERE p.status = 'failed' AND p.period = m.period)::bigint AS payoutsfailedusd
            FROM months m ORDER BY m.period
            """,
            new { since, now }, cancellationToken: ct))).ToList();
        return new BillingReport(now, (int)counts.Active, (int)counts.PastDue, mrr, owed, periods);
    }

    public static string ToCsv(BillingReport report)
    {
        var csv = new StringBuilder();
        csv.AppendLine("period,new_subscriptions,churned_subscriptions,failed_payments,recovered_payments,commissions_earned_usd,clawbacks_usd,payouts_paid_usd,payouts_failed_usd");
        foreach (var p in report.Periods)
        {
            csv.AppendLine(string.Join(',', p.Period, Num(p.NewSubscriptions), Num(p.ChurnedSubscriptions), Num(p.FailedPayments), Num(p.RecoveredPayments),
                Usd(p.CommissionsEarnedUsd), Usd(p.ClawbacksUsd), Usd(p.PayoutsPaidUsd), Usd(p.PayoutsFailedUsd)));
        }

        csv.AppendLine();
        csv.AppendLine("currency,mrr,subscriptions");
        foreach (var m in report.Mrr)
        {
            csv.AppendLine(string.Join(',', m.Currency, Usd(m.MonthlyAmount), Num(m.Subscriptions)));
        }

        csv.AppendLine();
        csv.AppendLine("active_subscriptions,past_due_subscriptions,commissions_owed_usd");
        csv.AppendLine(string.Join(',', Num(report.ActiveSubscriptions), Num(report.PastDueSubscriptions), Usd(report.CommissionsOwedUsd)));
        return csv.ToString();
    }

    private static string Num(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Usd(long cents) => (cents / 100m).ToString("0.00", CultureInfo.InvariantCulture);
}
