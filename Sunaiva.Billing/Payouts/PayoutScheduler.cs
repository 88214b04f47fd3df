using Microsoft.Extensions.Options;
using Sunaiva.Billing.Infrastructure;

namespace Sunaiva.Billing.Payouts;

/// <summary>Runs the payout run on the configured day of each month (UTC). Every replica schedules it; the run's lock makes one pay.</summary>
public sealed partial class PayoutScheduler(PayoutRunner runner, StripeGateway stripe, IOptions<StripeOptions> options, TimeProvider time, ILogger<PayoutScheduler> logger) : BackgroundService
{
    public static DateTimeOffset NextRun(DateTimeOffset now, int dayOfMonth, int hourUtc)
    {
        var utc = now.ToUniversalTime();
        var candidate = new DateTimeOffset(utc.Year, utc.Month, dayOfMonth, hourUtc, 0, 0, TimeSpan.Zero);
        return candidate > utc ? candidate : candidate.AddMonths(1);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!stripe.IsConfigured || settings.PayoutDayOfMonth == 0)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            var next = NextRun(time.GetUtcNow(), settings.PayoutDayOfMonth, settings.PayoutHourUtc);
            try
            {
                // Timers cap out near 49 days; a month fits, and the loop re-checks after each wake.
                await Task.Delay(next - time.GetUtcNow(), time, stoppingToken);
                await runner.RunAsync(PayoutRunner.PeriodFor(next), stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogRunFailed(logger, ex);
                await Task.Delay(TimeSpan.FromMinutes(5), time, stoppingToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Scheduled payout run failed; retrying in 5 minutes")]
    private static partial void LogRunFailed(ILogger logger, Exception ex);
}
