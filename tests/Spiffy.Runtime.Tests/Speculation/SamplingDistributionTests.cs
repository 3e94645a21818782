using Spiffy.Decoding;
using Spiffy.Speculation;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Speculation;

/// <summary>
/// Under sampling, Spiffy's outputs must follow the baseline's distribution. Independent samples
/// (disjoint seeds) of both are compared with a chi-square two-sample test on the first block's
/// first token. False-alarm rate: alpha = 0.001 (fixed seeds, so the verdict is reproducible).
/// </summary>
public class SamplingDistributionTests
{
    [Fact]
    public void SpiffySamples_FollowTheBaselineDistribution()
    {
        var model = Model("llada", seed: 5, layers: 1);
        var decoder = new DiffusionDecoder(model);
        var o = Options(model.Spec, x => x with { GenLength = 8, BlockLength = 8, Temperature = 1.0 });
        var graph = SpiffyLosslessTests.WideGraph(GraphFiles.FromOptions(o));
        var prompt = new long[] { 3, 14, 15, 9, 26 };
        const int n = 300;
        var baseCounts = new Dictionary<long, int>();
        var spiffyCounts = new Dictionary<long, int>();
        for (int i = 0; i < n; i++)
        {
            var a = decoder.Generate(prompt, o with { Seed = i });
            var b = decoder.Generate(prompt, o with { Seed = 100_000 + i }, speculator: new GraphSpeculator(new DraftGraph(graph), o.BlockLength));
            baseCounts[a.TokenIds[0]] = baseCounts.GetValueOrDefault(a.TokenIds[0]) + 1;
            spiffyCounts[b.TokenIds[0]] = spiffyCounts.GetValueOrDefault(b.TokenIds[0]) + 1;
        }
        var (chi2, dof) = ChiSquareTwoSample(baseCounts, spiffyCounts);
        double critical = ChiSquareCritical001(dof);
        Assert.True(dof >= 2, "too few categories for a meaningful test");
        Assert.True(chi2 < critical, $"chi2 = {chi2:F2} >= {critical:F2} (dof {dof}): the distributions differ");
    }

    /// <summary>Pools categories with fewer than 10 expected samples into one bin.</summary>
    private static (double chi2, int dof) ChiSquareTwoSample(Dictionary<long, int> a, Dictionary<long, int> b)
    {
        int na = a.Values.Sum(), nb = b.Values.Sum();
        var keys = a.Keys.Union(b.Keys).OrderBy(k => k).ToList();
        var bins = new List<(double, double)>();
        double restA = 0, restB = 0;
        foreach (var k in keys)
        {
            double ca = a.GetValueOrDefault(k), cb = b.GetValueOrDefault(k);
            if (ca + cb < 20) { restA += ca; restB += cb; } else bins.Add((ca, cb));
        }
        if (restA + restB > 0) bins.Add((restA, restB));
        double chi2 = 0;
        foreach (var (ca, cb) in bins)
        {
            double total = ca + cb;
            double ea = total * na / (na + nb), eb = total * nb / (na + nb);
            chi2 += (ca - ea) * (ca - ea) / ea + (cb - eb) * (cb - eb) / eb;
        }
        return (chi2, bins.Count - 1);
    }

    /// <summary>Upper 0.1% point of chi-square (Wilson-Hilferty approximation).</summary>
    private static double ChiSquareCritical001(int dof)
    {
        const double z = 3.0902; // standard normal 0.999 quantile
        double k = dof, t = 1 - 2 / (9 * k) + z * Math.Sqrt(2 / (9 * k));
        return k * t * t * t;
    }
}
