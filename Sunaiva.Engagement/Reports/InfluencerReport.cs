using System.Globalization;
using Dapper;
using Npgsql;

namespace Sunaiva.Engagement.Reports;

/// <summary>One month of one referral code's performance (money in USD cents).</summary>
public sealed record MonthFigures(string Period, long Signups, long Conversions, long ActiveSubscribers, long CommissionsUsd, long ClawbacksUsd, long PayoutUsd);

/// <summary>An influencer's performance report for a period, with the months before it for the chart.</summary>
/// <param name="CarryOverUsd">Earned and not yet paid at the period's end: commissions − clawbacks − payouts up to it (held commissions included).</param>
public sealed record InfluencerReport(string ReferralCode, string Period, MonthFigures Month, long CarryOverUsd, IReadOnlyList<MonthFigures> History)
{
    public const int ChartMonths = 6;

    /// <summary>Reads the figures from the read model (no transaction needed: each fact is already committed).</summary>
    public static async Task<InfluencerReport> ReadAsync(NpgsqlConnection connection, string referralCode, string period, CancellationToken ct)
    {
        var end = Start(period).AddMonths(1);
        var periods = Enumerable.Range(0, ChartMonths).Select(i => end.AddMonths(-ChartMonths + i).ToString("yyyy-MM", CultureInfo.InvariantCulture)).ToArray();
        var rows = (await connection.QueryAsync<MonthFigures>(new CommandDefinition(
            """
            WITH months AS (SELECT p AS period, (p || '-01 00:00:00+00')::timestamptz AS since FROM unnest(@periods::text[]) AS p)
            SELECT m.period,
                   (SELECT count(*) FROM referred_users r WHERE r.referral_code = @referralCode AND r.signed_up_at >= m.since AND r.signed_up_at < m.since + interval '1 month') AS signups,
                   (SELECT count(*) FROM referred_users r WHERE r.referral_code = @referralCode AND r.converted_at >= m.since AND r.converted_at < m.since + interval '1 month') AS conversions,
                   (SELECT count(*) FROM referred_users r WHERE r.referral_code = @referralCode AND r.converted_at < m.since + interval '1 month'
                                                           AND (r.canceled_at IS NULL OR r.canceled_at >= m.since + interval '1 month')) AS activesubscribers,
                   COALESCE((SELECT sum(amount_usd) FROM influencer_ledger l WHERE l.referral_code = @referralCode AND l.period = m.period AND l.kind = 'commission'), 0)::bigint AS commissionsusd,
                   COALESCE((SELECT sum(amount_usd) FROM influencer_ledger l WHERE l.referral_code = @referralCode AND l.period = m.period AND l.kind = 'clawback'), 0)::bigint AS clawbacksusd,
                   COALESCE((SELECT sum(amount_usd) FROM influencer_ledger l WHERE l.referral_code = @referralCode AND l.period = m.period AND l.kind = 'payout'), 0)::bigint AS payoutusd
            FROM months m ORDER BY m.period
            """,
            new { referralCode, periods }, cancellationToken: ct))).ToList();
        var carry = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            """
            SELECT COALESCE(sum(CASE kind WHEN 'commission' THEN amount_usd ELSE -amount_usd END), 0)::bigint
            FROM influencer_ledger WHERE referral_code = @referralCode AND period <= @period
            """,
            new { referralCode, period }, cancellationToken: ct));
        return new InfluencerReport(referralCode, period, rows[^1], carry, rows);
    }

    public static DateTime Start(string period) =>
        DateTime.SpecifyKind(DateTime.ParseExact(period, "yyyy-MM", CultureInfo.InvariantCulture), DateTimeKind.Utc);

    public static bool IsPeriod(string? period) =>
        period is { Length: 7 } && DateTime.TryParseExact(period, "yyyy-MM", CultureInfo.InvariantCulture, DateTimeStyles.None, out _);

    public static string Usd(long cents) => string.Create(CultureInfo.InvariantCulture, $"{cents / 100m:0.00} USD");

    /// <summary>The template model (<c>report.*</c>).</summary>
    public Dictionary<string, object?> Model(string chartContentId) => new(StringComparer.Ordinal)
    {
        ["period"] = Period,
        ["month_name"] = Start(Period).ToString("MMMM yyyy", CultureInfo.InvariantCulture),
        ["referral_code"] = ReferralCode,
        ["signups"] = Month.Signups,
        ["conversions"] = Month.Conversions,
        ["active_subscribers"] = Month.ActiveSubscribers,
        ["commissions"] = Usd(Month.CommissionsUsd),
        ["clawbacks"] = Usd(Month.ClawbacksUsd),
        ["payout"] = Usd(Month.PayoutUsd),
        ["carry_over"] = Usd(CarryOverUsd),
        ["chart_cid"] = chartContentId,
    };

    /// <summary>Sample data for the template preview.</summary>
    public static Dictionary<string, object?> SampleModel()
    {
        var month = new MonthFigures("2026-10", 42, 9, 31, 18_450, 1_200, 15_000);
        return new InfluencerReport("DEMO", "2026-10", month, 4_650, [month]).Model("chart@sample");
    }
}
