using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using Spiffy.Tests.Checkpoints;
using Xunit.Abstractions;
using static Spiffy.Tests.Calibration.CalibrationTestSupport;

namespace Spiffy.Tests.Calibration;

/// <summary>
/// Replay against recorded baseline trajectories must give exactly the forwards, acceptance and rows
/// of a real Spiffy run (DiffusionDecoder + GraphSpeculator), for every base decoder, graph and D*.
/// </summary>
public class ReplayTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Configurations() => new()
    {
        { "llada", "schedule" },
        { "llada", "schedule-2" },
        { "llada", "threshold" },
        { "llada", "prefix" },
        { "llada", "dual-threshold" },
        { "llada", "sampled" },
        { "dream", "dual-threshold" },
        { "dream", "schedule" },
        { "dream", "prefix" },
        { "sdar", "dynamic" },
        { "sdar", "schedule" },
    };

    /// <summary>Second-ranked positions and tokens as well as the rank-1 chain.</summary>
    internal static GraphSpec WideGraph(GraphDecoding decoding)
    {
        var table = new FormulaTable();
        var formulas = new[]
        {
            new[] { (1, 1) }, new[] { (2, 1) }, new[] { (1, 2) },
            new[] { (1, 1), (2, 1) }, new[] { (1, 1), (3, 1) }, new[] { (2, 1), (3, 1) },
            new[] { (1, 1), (2, 1), (3, 1) }, new[] { (1, 1), (2, 1), (4, 1) },
        };
        var ids = new List<int>();
        foreach (var f in formulas) ids.Add(Intern(table, f, f.Length));
        var counts = new long[table.Count];
        for (int i = 0; i < counts.Length; i++) counts[i] = 1;
        return GraphAssembly.Build(new CandidateDag(table, counts), ids, "wide", "", "", decoding, new GraphLimits(4, 2, 3),
            new GraphProvenance(false, "", "", 0, 0, ""), DraftKeep.All);
    }

    internal static int Intern(FormulaTable table, (int I, int J)[] pairs, int depth)
    {
        var packed = new int[pairs.Length];
        for (int k = 0; k < pairs.Length; k++) packed[k] = FormulaTable.Pack(pairs[k].I, pairs[k].J);
        Array.Sort(packed);
        return table.Intern(packed, depth);
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void ReplayedNfe_EqualsRealSpiffy(string family, string kind)
    {
        var model = Model(family);
        var o = Options(model.Spec, kind);
        var prompts = Prompts(3, 17);
        var traces = Record(model, prompts, o, positionRanks: 4, tokenRanks: 2);
        // A calibrated graph from other prompts of the same configuration.
        var calibration = new Calibrator(Record(model, Prompts(3, 99), o, 4, 2), new FormulaLimits(4, 2, 4));
        var graphs = new List<GraphSpec>
        {
            DraftGraph.Chain(4, o.ToSchema()),
            WideGraph(o.ToSchema()),
            calibration.Calibrate("calibrated", SelectionObjective.Frequency, 6),
        };
        var decoder = new DiffusionDecoder(model);
        var replay = new TraceReplay(traces);
        var baselines = new long[prompts.Length][];
        for (int i = 0; i < prompts.Length; i++)
        {
            var baseline = decoder.Generate(new[] { prompts[i] }, o)[0];
            Assert.Equal(baseline.Statistics.Nfe, traces.Sequences[i].BaselineNfe);
            baselines[i] = baseline.TokenIds;
        }
        long freeSteps = 0;
        foreach (var graph in graphs)
            foreach (var keep in new[] { DraftKeep.All, DraftKeep.Of(2) })
            {
                var r = replay.Replay(graph, keep);
                long rows = 0, stepForwards = 0, verification = 0, free = 0, nfe = 0;
                var hist = new List<long>();
                for (int i = 0; i < prompts.Length; i++)
                {
                    var spec = new GraphSpeculator(new DraftGraph(graph), o.BlockLength, keep);
                    var result = decoder.Generate(new[] { prompts[i] }, o, null, spec)[0];
                    Assert.Equal(baselines[i], result.TokenIds);
                    var s = result.Statistics;
                    Assert.True(r.SequenceNfe[i] == s.Nfe, $"{family}/{kind}/{graph.Name}/D*={keep}/prompt {i}: replayed NFE {r.SequenceNfe[i]}, real {s.Nfe}");
                    nfe += s.Nfe; rows += s.RowsTotal; stepForwards += s.StepForwards; verification += s.VerificationForwards; free += s.FreeSteps;
                    for (int d = 0; d < s.AcceptedByDepth.Count; d++)
                    {
                        while (hist.Count <= d) hist.Add(0);
                        hist[d] += s.AcceptedByDepth[d];
                    }
                }
                Assert.Equal(nfe, r.Nfe);
                Assert.Equal(rows, r.Speculation.RowsTotal);
                Assert.Equal(stepForwards, r.Speculation.StepForwards);
                Assert.Equal(verification, r.Speculation.VerificationForwards);
                Assert.Equal(free, r.Speculation.FreeSteps);
                Assert.Equal(hist.ToArray(), r.Speculation.AcceptedByDepth);
                freeSteps += free;
                output.WriteLine($"{family}/{kind} {graph.Name} D*={keep}: {r}");
            }
        Assert.True(freeSteps > 0, "no draft was ever accepted: the test would not exercise the walk");
    }

    [Fact]
    public void FastReplay_EqualsExactReplay_WithoutPruning_AndOracleIsABound()
    {
        var model = Model("llada");
        foreach (var kind in new[] { "schedule", "threshold" })
        {
            var o = Options(model.Spec, kind);
            var traces = Record(model, Prompts(4, 3), o, 6, 3);
            var calibration = new Calibrator(traces, new FormulaLimits(6, 3, 5));
            var oracle = calibration.Oracle();
            foreach (var objective in SelectionObjectives.All)
                foreach (int d in new[] { 1, 3, 8 })
                {
                    var ids = calibration.Select(objective, d);
                    var member = new bool[calibration.Table.Count];
                    foreach (int id in ids) member[id] = true;
                    var graph = calibration.Graph(ids, "g", objective, DraftKeep.All);
                    var exact = calibration.Replay.Replay(graph);
                    Assert.Equal(exact.Nfe, calibration.Chains.Nfe(member));
                    Assert.True(oracle.Nfe <= exact.Nfe, $"oracle {oracle.Nfe} above {objective} D={d}: {exact.Nfe}");
                    Assert.True(exact.Nfe <= exact.BaselineNfe);
                }
            // With one token per step no formula occurs at two depths, so the graph of every observed formula reaches the oracle.
            if (kind == "schedule")
            {
                var all = calibration.Select(SelectionObjective.Frequency, calibration.Dag.NodeCount);
                Assert.Equal(calibration.Dag.NodeCount, all.Count);
                Assert.Equal(oracle.Nfe, calibration.Replay.Replay(calibration.Graph(all, "all", SelectionObjective.Frequency, DraftKeep.All)).Nfe);
            }
            Assert.True(oracle.Nfe < traces.BaselineNfe);
            Assert.Equal(traces.BaselineNfe, oracle.BaselineNfe);
        }
    }

    [Fact]
    public void Traces_RoundTripThroughTheFile_BitForBit()
    {
        var model = Model("llada");
        var o = Options(model.Spec, "threshold");
        var traces = Record(model, Prompts(2, 5), o, 4, 2);
        using var dir = new TempDir();
        TraceFile.Save(traces, dir["a.trace"]);
        var back = TraceFile.Load(dir["a.trace"]);
        TraceFile.Save(back, dir["b.trace"]);
        Assert.Equal(File.ReadAllBytes(dir["a.trace"]), File.ReadAllBytes(dir["b.trace"]));
        Assert.Equal(traces.Header, back.Header);
        var graph = WideGraph(o.ToSchema());
        Assert.Equal(new TraceReplay(traces).Replay(graph, DraftKeep.Of(2)).SequenceNfe, new TraceReplay(back).Replay(graph, DraftKeep.Of(2)).SequenceNfe);

        // A truncated file is a clear error, not a crash.
        var bytes = File.ReadAllBytes(dir["a.trace"]);
        File.WriteAllBytes(dir["c.trace"], bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<InvalidDataException>(() => TraceFile.Load(dir["c.trace"]));
        Assert.Contains("c.trace", e.Message);
    }

    [Fact]
    public void Replay_RefusesGraphsBeyondTheRecordedRanks()
    {
        var model = Model("llada");
        var o = Options(model.Spec, "schedule");
        var traces = Record(model, Prompts(1, 5), o, 2, 1);
        var e = Assert.Throws<ArgumentException>(() => new TraceReplay(traces).Replay(WideGraph(o.ToSchema())));
        Assert.Contains("position rank", e.Message);
    }

    [Fact]
    public void ProducedGraphs_PassValidation_ForEveryObjective()
    {
        var model = Model("llada");
        var o = Options(model.Spec, "threshold");
        var calibration = new Calibrator(Record(model, Prompts(3, 8), o, 5, 3), new FormulaLimits(5, 3, 4));
        foreach (var objective in SelectionObjectives.All)
            foreach (int d in new[] { 1, 4, 12 })
                foreach (var keep in new[] { DraftKeep.All, DraftKeep.Of(2) })
                {
                    var g = calibration.Calibrate($"t-{SelectionObjectives.Name(objective)}", objective, d, keep);
                    var errors = new List<SchemaError>();
                    GraphSpecParser.Validate(g, "t", errors);
                    Assert.Empty(errors);
                    string text = GraphFileWriter.ToJson(g);
                    var parsed = GraphSpecParser.Parse(text, "t", errors);
                    Assert.Empty(errors);
                    Assert.NotNull(parsed);
                    Assert.True(parsed!.Provenance.Calibrated);
                    Assert.Equal(SelectionObjectives.Name(objective), parsed.Provenance.Objective);
                    Assert.Equal(keep, parsed.Keep);
                    Assert.True(g.Nodes.Count <= d);
                }
    }
}
