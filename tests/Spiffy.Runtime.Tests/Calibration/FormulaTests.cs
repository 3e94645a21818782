using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using static Spiffy.Tests.Calibration.ReplayTests;

namespace Spiffy.Tests.Calibration;

/// <summary>Formula extraction and replay on hand-made trajectories (block of 4, mask id 9, J = 2).</summary>
public class FormulaTests
{
    private const long M = 9;

    /// <summary>One step: the distribution computed on `before` as (top-1 prob, tok1, prob2, tok2) per position, then `after`.</summary>
    private static void Step(SequenceTraceBuilder b, int block, long[] before, (double P1, long T1, double P2, long T2)[] dist, long[] after)
    {
        var probs = new double[8];
        var toks = new long[8];
        for (int i = 0; i < 4; i++) { probs[2 * i] = dist[i].P1; toks[2 * i] = dist[i].T1; probs[2 * i + 1] = dist[i].P2; toks[2 * i + 1] = dist[i].T2; }
        b.AddStep(block, before, probs, toks, after);
    }

    /// <summary>
    /// S0 -(pos1=3)-> S1 -(pos3=7)-> S2 -(pos0=1)-> S3 -(pos2=6)-> S4. Under D0 (the distribution of S0),
    /// S1's masks rank pos2 (.7), pos3 (.6), pos0 (.5); under D1 pos0 (.8, top token 2, then 1), pos2 (.4).
    /// So from S1: S2 = {(2,1)}, S3 = {(2,1),(3,1)}; from S2: S3 = {(1,2)}; S4 is complete (never drafted).
    /// </summary>
    internal static TraceSet HandMade(int blocks = 1)
    {
        var b = new SequenceTraceBuilder(4, M, positionRanks: 4, tokenRanks: 2);
        for (int blk = 0; blk < blocks; blk++)
        {
            Step(b, blk, new[] { M, M, M, M }, new[] { (.5, 1L, .3, 2L), (.9, 3L, .05, 4L), (.7, 5L, .2, 6L), (.6, 7L, .3, 8L) }, new[] { M, 3, M, M });
            Step(b, blk, new[] { M, 3, M, M }, new[] { (.8, 2L, .1, 1L), (0, 0L, 0, 0L), (.4, 5L, .3, 6L), (.9, 7L, .1, 8L) }, new[] { M, 3, M, 7 });
            Step(b, blk, new[] { M, 3, M, 7 }, new[] { (.6, 1L, .3, 2L), (0, 0L, 0, 0L), (.5, 6L, .2, 5L), (0, 0L, 0, 0L) }, new[] { 1, 3, M, 7 });
            Step(b, blk, new[] { 1, 3, M, 7 }, new[] { (0, 0L, 0, 0L), (0, 0L, 0, 0L), (.9, 6L, .1, 5L), (0, 0L, 0, 0L) }, new[] { 1L, 3, 6, 7 });
        }
        var header = new TraceHeader("hand", "", new GraphDecoding(4 * blocks, 4, 4 * blocks, UnmaskingRule.Schedule, ConfidenceKind.Probability,
            0.9, 1, 1, 0, CacheMode.None),
            0, false, (int)M, 4, 2, "hand-made", 0);
        return new TraceSet(header, new[] { b.Build(0) });
    }

    private static Dictionary<string, long> CountsByFormula(Calibrator c)
    {
        var d = new Dictionary<string, long>();
        foreach (int id in c.Dag.All()) d[$"{FormulaTable.Format(c.Table.Pairs(id))}@{c.Table.Depth(id)}"] = c.Dag.Count(id);
        return d;
    }

    [Fact]
    public void FutureStates_AreCountedRelativeToTheDraftingDistribution()
    {
        var c = new Calibrator(HandMade(), new FormulaLimits(4, 2, 8));
        var counts = CountsByFormula(c);
        Assert.Equal(new Dictionary<string, long>
        {
            ["{(2,1)}@1"] = 1,
            ["{(2,1),(3,1)}@2"] = 1,
            ["{(1,2)}@1"] = 1,
        }, counts);
        Assert.Equal(3, c.StepsObserved); // S1, S2, S3 draft; S0 never does
    }

    [Fact]
    public void Limits_DropFormulasWithAPairBeyondThem()
    {
        SameKeys(new[] { "{(2,1)}@1", "{(2,1),(3,1)}@2" }, new FormulaLimits(4, 1, 8));
        SameKeys(new[] { "{(1,2)}@1", "{(2,1)}@1" }, new FormulaLimits(2, 2, 8));
        SameKeys(new[] { "{(1,2)}@1", "{(2,1)}@1" }, new FormulaLimits(4, 2, 1));
    }

    private static void SameKeys(string[] expected, FormulaLimits limits)
    {
        var keys = CountsByFormula(new Calibrator(HandMade(), limits)).Keys;
        Assert.True(new HashSet<string>(expected).SetEquals(keys), $"{limits}: got {string.Join(" ", keys)}");
    }

    [Fact]
    public void MultiTokenSteps_GiveOneFormulaPerStep()
    {
        var b = new SequenceTraceBuilder(4, M, 4, 1);
        var p = new double[] { .5, .9, .7, .6 };
        var t = new long[] { 1, 3, 5, 7 };
        b.AddStep(0, new[] { M, M, M, M }, p, t, new[] { M, 3, M, M });
        // Ranks of S1 under D0: pos2, pos3, pos0. The next step commits two positions (ranks 1 and 3), then the last.
        b.AddStep(0, new[] { M, 3, M, M }, new double[] { .9, 0, .2, .1 }, new long[] { 1, 0, 5, 7 }, new[] { 1, 3, 5, M });
        b.AddStep(0, new[] { 1, 3, 5, M }, new double[] { 0, 0, 0, .9 }, new long[] { 0, 0, 0, 7 }, new[] { 1L, 3, 5, 7 });
        var header = new TraceHeader("hand", "", new GraphDecoding(4, 4, 4, UnmaskingRule.Threshold, ConfidenceKind.Probability, 0.5, 1, 1, 0, CacheMode.None),
            0, false, (int)M, 4, 1, "", 0);
        var c = new Calibrator(new TraceSet(header, new[] { b.Build(0) }), new FormulaLimits(4, 1, 4));
        Assert.Equal(new[] { "{(1,1),(3,1)}@1" }, CountsByFormula(c).Keys);
        Assert.Equal(3, c.Traces.BaselineNfe);
        // Drafting that node saves the middle step's successor: 1 (step 0) + 1 forward (root step, then the free step).
        var graph = c.Calibrate("g", SelectionObjective.Frequency, 1);
        Assert.Equal(2, c.Replay.Replay(graph).Nfe);
    }

    [Fact]
    public void HandMadeReplay_FollowsTheWalk()
    {
        var traces = HandMade(blocks: 2);
        var c = new Calibrator(traces, new FormulaLimits(4, 2, 8));
        Assert.Equal(8, traces.BaselineNfe);
        var table = c.Table;
        var chain = new List<int> { Intern(table, new[] { (2, 1) }, 1), Intern(table, new[] { (2, 1), (3, 1) }, 2) };
        var g = c.Graph(chain, "chain", SelectionObjective.Frequency, DraftKeep.All);
        var r = c.Replay.Replay(g);
        // Per block: step 0 (1 forward), then one forward at S1 whose root step gives S2 = {(2,1)} and S3 = {(2,1),(3,1)}: both accepted, S4 follows for free.
        Assert.Equal(4, r.Nfe);
        Assert.Equal(new long[] { 0, 0, 2 }, r.Speculation.AcceptedByDepth);
        Assert.Equal(r.Nfe, c.Chains.Nfe(Member(c, chain)));
        // Only the depth-1 node: S2 accepted, then a forward at S3.
        var one = c.Graph(chain.GetRange(0, 1), "one", SelectionObjective.Frequency, DraftKeep.All);
        Assert.Equal(6, c.Replay.Replay(one).Nfe);
        Assert.Equal(8, c.Replay.Replay(c.Graph(new List<int> { Intern(table, new[] { (1, 1) }, 1) }, "miss", SelectionObjective.Frequency, DraftKeep.All))
            .Nfe);
        Assert.Equal(4, c.Oracle().Nfe);
    }

    private static bool[] Member(Calibrator c, List<int> ids)
    {
        var m = new bool[c.Table.Count];
        foreach (int id in ids) m[id] = true;
        return m;
    }

    [Fact]
    public void Builder_ChecksTheDecodersForwardCount()
    {
        SequenceTraceBuilder Block(bool reportForward)
        {
            var b = new SequenceTraceBuilder(4, M, 4, 1);
            if (reportForward) b.AddForward(Spiffy.Decoding.ForwardKind.Step, 0);
            b.AddStep(0, new[] { M, M, M, M }, new double[] { .1, .2, .3, .4 }, new long[] { 1, 2, 3, 4 }, new[] { 1L, 2, 3, 4 });
            return b;
        }
        Assert.Equal(1, Block(true).Build(0, baselineNfe: 1).BaselineNfe);
        // A step without its forward, or a count that disagrees, means the decode loop changed: replay would be wrong.
        Assert.Throws<InvalidOperationException>(() => Block(false).Build(0, baselineNfe: 1));
        Assert.Throws<InvalidOperationException>(() => Block(true).Build(0, baselineNfe: 2));
        Assert.Throws<InvalidOperationException>(() => Block(true).AddStep(0, new[] { 1L, M, M, M }, new double[4], new long[4], new[] { 5L, M, M, M }));
    }
}
