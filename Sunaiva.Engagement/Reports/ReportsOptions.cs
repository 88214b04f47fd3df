using System.ComponentModel.DataAnnotations;

namespace Sunaiva.Engagement.Reports;

/// <summary>Influencer performance reports (section <c>Email:Reports</c>).</summary>
public sealed class ReportsOptions
{
    public const string SectionName = "Email:Reports";

    /// <summary>Monthly reports at all (the one on <c>payout.sent</c> is always sent).</summary>
    public bool Monthly { get; set; } = true;

    /// <summary>Day of the following month the monthly report of a month goes out (1-28).</summary>
    [Range(1, 28, ErrorMessage = "Email:Reports:MonthlyDay must be a day 1-28.")]
    public int MonthlyDay { get; set; } = 1;

    /// <summary>UTC hour of that day.</summary>
    [Range(0, 23, ErrorMessage = "Email:Reports:MonthlyHour must be an hour 0-23 (UTC).")]
    public int MonthlyHour { get; set; } = 8;
}
