using Spiffy.Benchmarking;
using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using Spiffy.Tests.Speculation;
using Spiffy.Training;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Benchmarking;

public class BenchTests
{
    [Fact]
    public void Runner_ReportsZeroMismatchesForLosslessModes_AndConsistentRatios()
    {
        var model = SpiffyModel.FromTransformer(Model("llada", layers: 1));
        var o = Options(model.Spec);
        var graph = SpiffyLosslessTests.WideGraph(o.ToSchema());
        var dual = o with { Cache = CacheMode.Dual };
        var modes = new[]
        {
            new BenchMode(BenchRunner.BaselineName, o),
            new BenchMode("spiffy", o, graph, DraftKeep.Of(3), BenchRunner.BaselineName),
            new BenchMode("dual-cache", dual),
            new BenchMode("dual-cache+spiffy", dual, SpiffyLosslessTests.WideGraph(dual.ToSchema()), DraftKeep.All, "dual-cache"),
        };
        var prompts = Prompts(2, 17);
        var results = BenchRunner.Run(model, prompts, modes);
        Assert.All(results, r => Assert.Equal(prompts.Length, r.Runs));
        Assert.All(results, r => Assert.Equal(0, r.Mismatches));
        var baseline = results[0];
        Assert.Equal(1.0, baseline.NfeReduction, 9);
        Assert.Equal(o.GenLength * prompts.Length, baseline.Total.Nfe);
        var spiffy = results[1].Total;
        Assert.True(spiffy.Nfe < baseline.Total.Nfe, "no forward saved");
        Assert.Equal((double)baseline.Total.Nfe / spiffy.Nfe, results[1].NfeReductionVsBase, 9);
        Assert.Equal(spiffy.Steps, spiffy.Nfe + spiffy.FreeSteps);
        Assert.True(spiffy.RowsPerForward > 1);
        Assert.Equal(0, results[1].LiveTensorGrowth);
        // One sequence per generation: the summed batches carried exactly the summed sequences' forwards and rows.
        foreach (var r in results)
        {
            var t = r.Total;
            Assert.Equal(prompts.Length, t.Batch.Sequences);
            Assert.Equal(t.Nfe, t.Batch.Forwards);
            Assert.Equal(t.StepForwards, t.Batch.StepForwards);
            Assert.Equal(t.RowsTotal, t.Batch.RowsFed);
            Assert.Equal(t.ScoredForwards, t.Batch.ScoredForwards);
        }

        var report = new BenchReport
        {
            Model = "tiny", PromptSource = "test", Prompts = 2, GenLength = o.GenLength, BlockLength = o.BlockLength, Command = "spiffy bench", Modes = results
        };
        string json = report.ToJson();
        Assert.Contains("\"name\": \"dual-cache+spiffy\"", json);
        Assert.Contains("\"mismatches\": 0", json);
    }

    [Fact]
    public void Runner_CountsADifferentOutputAsAMismatch()
    {
        var model = SpiffyModel.FromTransformer(Model("llada", layers: 1));
        var o = Options(model.Spec);
        var modes = new[]
        {
            new BenchMode(BenchRunner.BaselineName, o),
            // Not the same decoder: random remasking changes the output, so "its base" must disagree.
            new BenchMode("other", o with { Confidence = ConfidenceKind.Random, Seed = 3 }, Base: BenchRunner.BaselineName),
        };
        var results = BenchRunner.Run(model, Prompts(2, 5), modes);
        Assert.True(results[1].Mismatches > 0);
    }

    [Fact]
    public void CostFit_RecoversALine()
    {
        var (a, b) = ForwardCostModel.Fit(new[] { (1, 12.0), (2, 14.0), (4, 18.0), (8, 26.0) });
        Assert.Equal(10.0, a, 9);
        Assert.Equal(2.0, b, 9);
    }

    [Fact]
    public void CostModel_TakesTheMinimumOfTheRepeats_AndReportsTheirSpread()
    {
        // A burst of load on some repeats must not move the estimate: noise only ever adds time.
        var cost = ForwardCostModel.FromTimings("t",
            new[] { (1, new[] { 12.0, 30.0, 12.5 }), (2, new[] { 14.0, 14.2, 40.0 }), (4, new[] { 18.0, 18.9, 18.1 }) });
        Assert.True(cost.Reliable, cost.Verdict);
        Assert.Equal(10.0, cost.FixedMs, 9);
        Assert.Equal(2.0, cost.PerRowMs, 9);
        Assert.Equal(new[] { (1, 12.0), (2, 14.0), (4, 18.0) }, cost.Samples);
        // The spread is the largest (median - minimum) / minimum: 12.5 vs 12 for one row.
        Assert.Equal(0.5 / 12.0, cost.Spread, 9);
    }

    [Fact]
    public void CostModel_RefusesRepeatsThatDisagree_AndACostThatDoesNotGrow()
    {
        // The loaded-machine fits of issue 18: "-51.81 ms fixed" and "696.61 ms + 0.00 ms/row".
        var negative = ForwardCostModel.FromTimings("cache prefix", new[] { (1, new[] { 5.0, 9.0 }), (2, new[] { 60.0, 70.0 }), (4, new[] { 170.0, 171.0 }) });
        Assert.False(negative.Reliable);
        Assert.True(negative.FixedMs < 0);
        Assert.Equal("noise: the fit is unreliable (spread 80%; repeats differ by more than 50%)", negative.Verdict);
        var flat = ForwardCostModel.FromTimings("cache dual", new[] { (1, new[] { 700.0, 710.0 }), (2, new[] { 690.0, 720.0 }), (4, new[] { 650.0, 700.0 }) });
        Assert.False(flat.Reliable);
        Assert.Contains("does not increase", flat.Verdict);

        // Seen on the build machine: a one-row forward slower in every repeat than a two-row one (spread 44%).
        var dip = ForwardCostModel.FromTimings("cache dual",
            new[] { (1, new[] { 27.81, 40.0 }), (2, new[] { 14.01, 14.5 }), (4, new[] { 21.68, 22.0 }), (8, new[] { 38.41, 39.0 }) });
        Assert.False(dip.Reliable);
        Assert.Contains("1 rows took longer than 2 rows (27.81 ms against 14.01 ms)", dip.Verdict);

        // No D* is chosen from either, whatever the profile says.
        var graph = DraftGraph.Chain(2, new DecodingOptions().ToSchema(), 1);
        graph = graph with
        {
            Provenance = graph.Provenance with
            {
                KeepProfile = new EquatableArray<KeepCost>(new[] { new KeepCost(0, 100, 100), new KeepCost(1, 80, 160), new KeepCost(2, 70, 200) })
            }
        };
        Assert.Null(KeepChooser.Choose(graph, negative));
        Assert.Null(KeepChooser.Choose(graph, flat));
        Assert.Null(KeepChooser.Choose(graph, dip));
    }

    /// <summary>
    /// A curve that bends upwards is a machine, not noise: the README command's timings on the 2-core build machine
    /// (2026-12-07, dual cache, spread 13%) fit a line with a negative fixed cost, and D* is read off the curve:
    /// a second row costs 39% of a one-row forward, so drafts that are accepted rarely must not be chosen.
    /// </summary>
    [Fact]
    public void CostModel_ACurveThatBendsUp_IsReliable_AndChoosesFromTheMeasuredCurve()
    {
        var measured = new[] { (1, 8.66), (2, 12.04), (4, 19.09), (8, 31.33), (16, 72.95), (25, 133.39) };
        var cost = ForwardCostModel.FromTimings("cache dual", measured.Select(m => (m.Item1, new[] { m.Item2, m.Item2 * 1.13 })).ToArray());
        Assert.True(cost.FixedMs < 0);
        Assert.True(cost.Reliable, cost.Verdict);
        Assert.Equal((12.04 - 8.66) / 8.66, cost.RowCostRatio, 9);

        var graph = DraftGraph.Chain(8, new DecodingOptions().ToSchema(), 1);
        KeepChoice? Choose(params KeepCost[] profile) => KeepChooser.Choose(
            graph with { Provenance = graph.Provenance with { KeepProfile = new EquatableArray<KeepCost>(profile) } }, cost);
        // Half the forwards at 9 rows each cost more than all of them at one row (128 x 36.4 ms > 256 x 8.66 ms): plain.
        Assert.True(Choose(new KeepCost(0, 256, 256), new KeepCost(8, 128, 1148))!.Keep.IsNone);
        // A third of the forwards at 2 rows each pay (86 x 12.04 ms < 256 x 8.66 ms): one draft.
        Assert.Equal(1, Choose(new KeepCost(0, 256, 256), new KeepCost(1, 86, 172), new KeepCost(8, 80, 720))!.Keep.Drafts(8));
        // A predicted gain inside the timings' 13% spread is not chosen: 170 x 12.04 ms is 8% below 256 x 8.66 ms.
        Assert.True(Choose(new KeepCost(0, 256, 256), new KeepCost(1, 170, 340))!.Keep.IsNone);
    }

    [Fact]
    public void CostModel_RowCounts_CoverOneToTheWidestForward()
    {
        Assert.Equal(new[] { 1, 2 }, ForwardCostModel.RowCounts(1));
        Assert.Equal(new[] { 1, 2, 4, 5 }, ForwardCostModel.RowCounts(5));
        Assert.Equal(new[] { 1, 2, 4, 8 }, ForwardCostModel.RowCounts(8));
    }

    [Fact]
    public void KeepChooser_FollowsTheCostOfARow()
    {
        var profile = new EquatableArray<KeepCost>(new[]
        {
            new KeepCost(0, 1000, 1000), new KeepCost(1, 700, 1400), new KeepCost(2, 550, 1650), new KeepCost(3, 500, 2000),
        });
        var graph = DraftGraph.Chain(3, new DecodingOptions().ToSchema(), 1);
        graph = graph with { Provenance = graph.Provenance with { KeepProfile = profile } };
        // Rows nearly free (GPU-like): keep everything (the profile's node count is D* all).
        Assert.Equal(DraftKeep.All, KeepChooser.Choose(graph, new ForwardCost("t", 10, 0.01, Array.Empty<(int, double)>()))!.Keep);
        // A row costs as much as a forward (full rows on a CPU): no drafts.
        Assert.Equal(DraftKeep.None, KeepChooser.Choose(graph, new ForwardCost("t", 0.1, 10, Array.Empty<(int, double)>()))!.Keep);
        // In between: 10 + 2 per row -> D*=1: 7000+2800=9800, D*=2: 5500+3300=8800, D*=3: 5000+4000=9000.
        var mid = KeepChooser.Choose(graph, new ForwardCost("t", 10, 2, Array.Empty<(int, double)>()))!;
        Assert.Equal(DraftKeep.Of(2), mid.Keep);
        Assert.Equal(12000.0 / 8800.0, mid.PredictedSpeedup, 9);
        Assert.Null(KeepChooser.Choose(DraftGraph.Chain(3, new DecodingOptions().ToSchema(), 1), new ForwardCost("t", 1, 1, Array.Empty<(int, double)>())));
    }

    [Fact]
    public void KeepProfile_RoundTripsThroughTheGraphFile_AndBadProfilesAreRejected()
    {
        var graph = DraftGraph.Chain(2, new DecodingOptions().ToSchema(), 1);
        var profile = new EquatableArray<KeepCost>(new[] { new KeepCost(0, 100, 100), new KeepCost(1, 80, 160), new KeepCost(2, 70, 200) });
        graph = graph with { Provenance = graph.Provenance with { KeepProfile = profile } };
        string json = GraphFileWriter.ToJson(graph);
        var errors = new List<SchemaError>();
        var back = GraphSpecParser.Parse(json, "g.json", errors);
        Assert.Empty(errors);
        Assert.Equal(profile, back!.Provenance.KeepProfile);

        string bad = json.Replace("\"rows\": 160", "\"rows\": 10", StringComparison.Ordinal);
        errors.Clear();
        Assert.Null(GraphSpecParser.Parse(bad, "g.json", errors));
        Assert.Contains(errors, e => e.Field.Contains("keep_profile[1].rows", StringComparison.Ordinal));
    }

    [Fact]
    public void Calibrator_WritesAKeepProfileConsistentWithReplay()
    {
        var model = Model("llada");
        var o = Options(model.Spec);
        var header = TraceRecorder.HeaderFor(o, model.Spec.Tokens.Mask, 4, 2);
        var recorder = new TraceRecorder(header);
        var decoder = new DiffusionDecoder(model);
        var traces = new List<SequenceTrace>();
        var prompts = Prompts(3, 9);
        for (int i = 0; i < prompts.Length; i++) traces.AddRange(recorder.Record(decoder, new[] { prompts[i] }, o, i));
        var calibrator = new Calibrator(new TraceSet(header, traces), new FormulaLimits(4, 2, 4));
        var graph = calibrator.Calibrate("g", SelectionObjective.Frequency, 4);
        var p = graph.Provenance.KeepProfile;
        Assert.Equal(graph.Nodes.Count + 1, p.Count);
        Assert.Equal(p[0].StepForwards, p[0].Rows);
        for (int k = 1; k < p.Count; k++)
        {
            Assert.True(p[k].StepForwards <= p[0].StepForwards);
            Assert.True(p[k].Rows >= p[k].StepForwards);
        }
        // The plain decoder's step forwards on these prompts: one per step (no cache).
        long steps = 0;
        foreach (var prompt in prompts) steps += decoder.Generate(prompt, o).Statistics.StepForwards;
        Assert.Equal(steps, p[0].StepForwards);
    }

    [Theory]
    [InlineData("so 3 + 4 = 7.\n#### 7", "#### 7", true)]
    [InlineData("#### 1,250.", "#### 1250", true)]
    [InlineData("#### 12", "#### 21", false)]
    [InlineData("no answer", "#### 5", false)]
    public void GsmAnswer_ComparesFinalAnswers(string output, string reference, bool same)
        => Assert.Equal(same, GsmAnswer.Matches(output, reference));
}
