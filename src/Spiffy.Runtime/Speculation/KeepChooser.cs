using Spiffy.Decoding;
using Spiffy.Schema.Graphs;

namespace Spiffy.Speculation;

/// <summary>Chooses D* from a graph's calibration profile and the machine's forward cost.</summary>
internal static class KeepChooser
{
    /// <summary>
    /// The D* whose step forwards take the least predicted time over the calibration prompts:
    /// forwards x the measured curve at that D*'s mean rows per forward (<see cref="ForwardCost.CurveMs"/>;
    /// with no samples, FixedMs x forwards + PerRowMs x rows). Returns 0 when drafting does not pay on
    /// this machine (decode plainly) as <see cref="DraftKeep.None"/>, and also when drafting's predicted gain is smaller than the timings'
    /// spread; keeping every node as <see cref="DraftKeep.All"/>. Null when the graph has
    /// no profile or the cost fit is unreliable (<see cref="ForwardCost.Verdict"/> says why): noise must not choose D*.
    /// </summary>
    public static KeepChoice? Choose(Schema.Graphs.GraphSpec graph, ForwardCost cost)
    {
        var profile = graph.Provenance.KeepProfile;
        if (profile.Count == 0 || !cost.Reliable) return null;
        Schema.Graphs.KeepCost? best = null, plain = null;
        double bestMs = double.PositiveInfinity, plainMs = double.NaN;
        foreach (var k in profile)
        {
            double ms = cost.Samples.Count < 2 || k.StepForwards == 0
                ? cost.FixedMs * k.StepForwards + cost.PerRowMs * k.Rows
                : k.StepForwards * cost.CurveMs((double)k.Rows / k.StepForwards);
            if (k.Drafts.IsNone) { plain = k; plainMs = ms; }
            if (ms < bestMs - 1e-9) { best = k; bestMs = ms; }
        }
        // A predicted gain inside the timings' own noise is no evidence that drafts pay: decode plainly then.
        if (plain is not null && !best!.Drafts.IsNone && bestMs * (1 + cost.Spread) >= plainMs) { best = plain; bestMs = plainMs; }
        return new KeepChoice(best!.Drafts.For(graph.Nodes.Count), bestMs, plain is null ? double.NaN : plainMs);
    }
}

/// <summary>A D* choice (<see cref="DraftKeep.None"/>: plain decoding is faster);
/// PredictedMs / PlainMs is the predicted time ratio of the step forwards.</summary>
internal sealed record KeepChoice(DraftKeep Keep, double PredictedMs, double PlainMs)
{
    public double PredictedSpeedup => PlainMs / PredictedMs;
}
