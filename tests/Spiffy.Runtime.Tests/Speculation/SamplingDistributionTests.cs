using Spiffy.Decoding;
using Spiffy.Modeling;
using Spiffy.Speculation;
using Xunit.Abstractions;
using static Spiffy.Tests.Decoding.DecodingTestSupport;
using static TorchSharp.torch;

namespace Spiffy.Tests.Speculation;

/// <summary>
/// Under sampling, Spiffy's outputs must follow the baseline's distribution over the whole output.
/// Independent samples (disjoint seeds) of both are compared with chi-square two-sample tests: one per
/// position and one on whole output sequences, each at alpha = 0.001 (family-wise at most 0.005; fixed
/// seeds, so the verdict is reproducible). The same tests must reject a baseline sampled at a
/// temperature 0.7 instead of 1: that is the power the lossless check relies on.
/// </summary>
public class SamplingDistributionTests(ITestOutputHelper output)
{
    private const int Samples = 600;
    private const int Length = 4;

    [Fact]
    public void SpiffySamples_FollowTheBaselineDistribution_OverTheWholeOutput()
    {
        var (decoder, o, prompt) = Setup();
        var graph = SpiffyLosslessTests.WideGraph(o.ToSchema());
        var baseline = new List<long[]>();
        var spiffy = new List<long[]>();
        long free = 0;
        for (int i = 0; i < Samples; i++)
        {
            baseline.Add(decoder.Generate(prompt, o with { Seed = i }).TokenIds);
            var r = decoder.Generate(prompt, o with { Seed = 100_000 + i }, speculator: new GraphSpeculator(new DraftGraph(graph), o.BlockLength));
            spiffy.Add(r.TokenIds);
            free += r.Statistics.FreeSteps;
        }
        Assert.True(free > Samples / 2, $"only {free} free steps in {Samples} runs: Spiffy's drafts were hardly used, the test would not see them");
        var verdicts = Compare(baseline, spiffy);
        foreach (var v in verdicts) output.WriteLine(v.ToString());
        foreach (var v in verdicts) Assert.True(!v.Rejects, $"{v}: Spiffy's samples do not follow the baseline distribution");
    }

    [Fact]
    public void TheTest_HasPower_AgainstACoolerSampler()
    {
        var (decoder, o, prompt) = Setup();
        var baseline = new List<long[]>();
        var cooler = new List<long[]>();
        for (int i = 0; i < Samples; i++)
        {
            baseline.Add(decoder.Generate(prompt, o with { Seed = i }).TokenIds);
            cooler.Add(decoder.Generate(prompt, o with { Seed = 100_000 + i, Temperature = 0.7 }).TokenIds);
        }
        var verdicts = Compare(baseline, cooler);
        foreach (var v in verdicts) output.WriteLine(v.ToString());
        Assert.Contains(verdicts, v => v.Rejects);
    }

    /// <summary>A one-layer LLaDA with a sharpened head (so outputs repeat often enough to count), temperature 1, one block of 4.</summary>
    private static (DiffusionDecoder, DecodingOptions, long[]) Setup()
    {
        var model = Model("llada", seed: 5, layers: 1);
        using (no_grad())
            foreach (var (name, p) in model.NamedWeights())
                if (name.Contains("lm_head", StringComparison.Ordinal)) p.mul_(4.0);
        var o = Options(model.Spec, x => x with { GenLength = Length, BlockLength = Length, Temperature = 1.0 });
        return (new DiffusionDecoder(model), o, new long[] { 3, 14, 15, 9, 26 });
    }

    internal sealed record Verdict(string What, double Chi2, int Dof, double Critical)
    {
        public bool Rejects => Dof >= 1 && Chi2 >= Critical;
        public override string ToString() => $"{What}: chi2 {Chi2:F2}, dof {Dof}, critical {Critical:F2}";
    }

    internal static List<Verdict> Compare(List<long[]> a, List<long[]> b)
    {
        var verdicts = new List<Verdict>();
        for (int p = 0; p < Length; p++)
        {
            int pos = p;
            verdicts.Add(Test($"position {pos}", a.Select(x => x[pos].ToString()), b.Select(x => x[pos].ToString())));
        }
        verdicts.Add(Test("whole output", a.Select(x => string.Join(",", x)), b.Select(x => string.Join(",", x))));
        Assert.True(verdicts[^1].Dof >= 5, $"whole outputs fall into {verdicts[^1].Dof + 1} bins only: too few for a meaningful test");
        return verdicts;
    }

    /// <summary>Two-sample chi-square; categories with fewer than 20 samples in both together are pooled into one bin.</summary>
    private static Verdict Test(string what, IEnumerable<string> a, IEnumerable<string> b)
    {
        var ca = a.GroupBy(k => k).ToDictionary(g => g.Key, g => g.Count());
        var cb = b.GroupBy(k => k).ToDictionary(g => g.Key, g => g.Count());
        int na = ca.Values.Sum(), nb = cb.Values.Sum();
        var bins = new List<(double A, double B)>();
        double restA = 0, restB = 0;
        foreach (var k in ca.Keys.Union(cb.Keys).Order(StringComparer.Ordinal))
        {
            double x = ca.GetValueOrDefault(k), y = cb.GetValueOrDefault(k);
            if (x + y < 20) { restA += x; restB += y; } else bins.Add((x, y));
        }
        if (restA + restB > 0) bins.Add((restA, restB));
        double chi2 = 0;
        foreach (var (x, y) in bins)
        {
            double total = x + y, ea = total * na / (na + nb), eb = total * nb / (na + nb);
            chi2 += (x - ea) * (x - ea) / ea + (y - eb) * (y - eb) / eb;
        }
        int dof = bins.Count - 1;
        return new Verdict(what, chi2, dof, Critical001(dof));
    }

    /// <summary>Upper 0.1% point of chi-square with <paramref name="dof"/> degrees (Wilson-Hilferty).</summary>
    private static double Critical001(int dof)
    {
        if (dof < 1) return double.PositiveInfinity;
        const double z = 3.0902; // standard normal 0.999 quantile
        double k = dof, t = 1 - 2 / (9 * k) + z * Math.Sqrt(2 / (9 * k));
        return k * t * t * t;
    }
}
