namespace Sunaiva.Engagement.Experiments;

/// <summary>
/// Two-proportion z-test: is variant B's rate different from A's? Pooled standard error; the confidence is two-sided
/// (2 Φ(|z|) − 1), so 0.95 means the difference would arise by chance less than 5 % of the time.
/// </summary>
public static class ZTest
{
    public readonly record struct Result(double Z, double Confidence);

    public static Result Compare(long successesA, long trialsA, long successesB, long trialsB)
    {
        if (trialsA == 0 || trialsB == 0)
        {
            return new Result(0, 0);
        }

        var pA = (double)successesA / trialsA;
        var pB = (double)successesB / trialsB;
        var pooled = (double)(successesA + successesB) / (trialsA + trialsB);
        var se = Math.Sqrt(pooled * (1 - pooled) * ((1.0 / trialsA) + (1.0 / trialsB)));
        if (se == 0)
        {
            return new Result(0, 0);
        }

        var z = (pB - pA) / se;
        return new Result(z, (2 * Phi(Math.Abs(z))) - 1);
    }

    /// <summary>Standard normal CDF through erf (Abramowitz and Stegun 7.1.26, error below 1.5e-7).</summary>
    public static double Phi(double x) => 0.5 * (1 + Erf(x / Math.Sqrt(2)));

    private static double Erf(double x)
    {
        var sign = Math.Sign(x);
        x = Math.Abs(x);
        var t = 1 / (1 + (0.3275911 * x));
        var y = 1 - ((((((1.061405429 * t) - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.Exp(-x * x);
        return sign * y;
    }
}
