using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;

namespace Spiffy.Benchmarking;

/// <summary>
/// The replay oracle bound on the benchmark's own prompts: record the plain decoder's trajectories
/// and count the forwards Spiffy would need if every true future state within a graph's rank and
/// depth limits were drafted (no width limit). It separates "the graph misses" from "the model is
/// not confident enough" when a goal is missed (docs/calibration.md, section 6).
/// </summary>
internal static class BenchOracle
{
    public static ReplayResult Compute(SpiffyModel model, IReadOnlyList<long[]> prompts, DecodingOptions options, GraphLimits limits,
        CancellationToken cancel = default)
    {
        var header = TraceRecorder.HeaderFor(options, model.Spec.Tokens.Mask, limits.MaxPositionRank, limits.MaxTokenRank, model.Spec.Name);
        var recorder = new TraceRecorder(header);
        var traces = new List<SequenceTrace>(prompts.Count);
        for (int i = 0; i < prompts.Count; i++)
            traces.AddRange(recorder.Record(model.Decoder, new[] { prompts[i] }, options, i, cancel));
        return FromTraces(new TraceSet(header, traces), limits);
    }

    /// <summary>The bound from already recorded plain-decoder traces.</summary>
    public static ReplayResult FromTraces(TraceSet set, GraphLimits limits)
    {
        var header = set.Header;
        var formulaLimits = new FormulaLimits(Math.Min(limits.MaxPositionRank, header.PositionRanks), limits.MaxTokenRank, limits.MaxDepth);
        return new FormulaChains(set, new FormulaTable(), formulaLimits).Oracle(set);
    }
}
