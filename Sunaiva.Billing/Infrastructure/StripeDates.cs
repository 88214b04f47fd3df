namespace Sunaiva.Billing.Infrastructure;

/// <summary>
/// Stripe.net initialises unset date properties to the Unix epoch, not <c>default</c>: a date at or before the epoch means
/// Stripe sent none, and is treated as absent rather than stored or returned as 1970-01-01.
/// </summary>
public static class StripeDates
{
    public static DateTime? OrNull(DateTime value) => value <= DateTime.UnixEpoch ? null : DateTime.SpecifyKind(value, DateTimeKind.Utc);

    public static DateTime? OrNull(DateTime? value) => value is { } date ? OrNull(date) : null;
}
