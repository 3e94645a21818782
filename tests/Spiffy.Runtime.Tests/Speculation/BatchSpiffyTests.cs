using Spiffy.Decoding;
using Spiffy.Speculation;
using Xunit.Abstractions;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Speculation;

/// <summary>
/// Spiffy for a batch: prompts of different lengths decoded together, each drafting from its own
/// distribution and walking its own acceptance in one forward, must give every sequence exactly the
/// tokens, forwards and acceptance of decoding it alone.
/// </summary>
public class BatchSpiffyTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, bool> Configurations()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var family in new[] { "llada", "dream" })
            foreach (var cache in new[] { "none", "prefix", "dual" })
                foreach (bool threshold in new[] { false, true })
                    data.Add(family, cache, threshold);
        return data;
    }

    private static DecodingOptions Configure(DecodingOptions o, string cache, bool threshold)
    {
        o = o with { Cache = cache switch { "prefix" => CacheMode.Prefix, "dual" => CacheMode.Dual, _ => CacheMode.None } };
        return threshold ? o with { Unmasking = UnmaskingRule.Threshold, Threshold = 0.3, Confidence = ConfidenceKind.Probability } : o;
    }

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Batch_EqualsEachPromptAlone_WithAndWithoutSpiffy(string family, string cache, bool threshold)
    {
        var model = Model(family);
        var decoder = new DiffusionDecoder(model);
        var o = Configure(Options(model.Spec), cache, threshold);
        var prompts = Prompts(3, 41, minLength: 2, maxLength: 12);
        var graph = SpiffyLosslessTests.WideGraph(o.ToSchema());
        // Plain, then Spiffy with every node (schedule) or pruned to D* = 2 (threshold): one each keeps the test short.
        foreach (int keep in new[] { -1, threshold ? 2 : 0 })
        {
            GraphSpeculator? Make() => keep < 0 ? null
                : new GraphSpeculator(new DraftGraph(graph), o.BlockLength, keep == 0 ? Spiffy.Schema.Graphs.DraftKeep.All
                : Spiffy.Schema.Graphs.DraftKeep.Of(keep));
            var batch = decoder.Generate(prompts, o, speculator: Make());
            long ownRows = 0;
            for (int i = 0; i < prompts.Length; i++)
            {
                var alone = decoder.Generate(prompts[i], o, speculator: Make());
                string what = $"{family}/{cache}/{(threshold ? "threshold" : "schedule")}/{(keep < 0 ? "plain" : $"D*={keep}")} prompt {i}";
                int diff = FirstDifference(alone.TokenIds, batch[i].TokenIds);
                Assert.True(diff < 0, $"{what}: first difference at {diff}");
                AssertSameCounts(alone.Statistics, batch[i].Statistics, what);
                ownRows += batch[i].Statistics.RowsTotal;
            }
            var b = batch[0].Statistics.Batch;
            Assert.Same(b, batch[^1].Statistics.Batch);
            Assert.Equal(prompts.Length, b.Sequences);
            // One forward serves the batch (per block, as many as its slowest sequence needs); one transfer per scored forward.
            Assert.InRange(b.Forwards, batch.Max(r => r.Statistics.Nfe), batch.Sum(r => r.Statistics.Nfe));
            Assert.Equal(b.ScoredForwards, b.DeviceToHostCopies);
            Assert.Equal(1.0, b.SyncsPerStep);
            Assert.True(b.RowsFed >= ownRows, $"rows fed {b.RowsFed} < rows the sequences needed {ownRows}");
            if (keep >= 0)
            {
                output.WriteLine($"{family}/{cache}/{threshold} D*={keep}: free steps {batch.Sum(r => r.Statistics.FreeSteps)}, rows "
                    + $"fed {b.RowsFed}, own rows {ownRows}");
                Assert.True(batch.Sum(r => r.Statistics.FreeSteps) > 0, "no draft accepted: the batch walk was not exercised");
                // Sequences progress at different rates, so some rows ride along (padding or a decided block).
                Assert.True(b.RowsFed > ownRows, "no sequence rode along: the padded layout was not exercised");
            }
        }
    }

    [Fact]
    public void Sampling_BatchEqualsAlone()
    {
        // Noise is seeded by (seed, step) per sequence: a draft row's noise must be its own sequence's.
        var model = Model("llada");
        var decoder = new DiffusionDecoder(model);
        var o = Options(model.Spec, x => x with { Temperature = 0.7, Seed = 5, Cache = CacheMode.Dual });
        var graph = SpiffyLosslessTests.WideGraph(o.ToSchema());
        var prompts = Prompts(3, 43, minLength: 2, maxLength: 12);
        var batch = decoder.Generate(prompts, o, speculator: new GraphSpeculator(new DraftGraph(graph), o.BlockLength));
        for (int i = 0; i < prompts.Length; i++)
        {
            var alone = decoder.Generate(prompts[i], o, speculator: new GraphSpeculator(new DraftGraph(graph), o.BlockLength));
            Assert.Equal(alone.TokenIds, batch[i].TokenIds);
            AssertSameCounts(alone.Statistics, batch[i].Statistics, $"prompt {i}");
        }
        Assert.True(batch.Sum(r => r.Statistics.FreeSteps) > 0);
    }

    [Fact]
    public void Sdar_Batch_WithSpiffy_EqualsAlone()
    {
        // SDAR's blocks start where each prompt's tail lies: its batch decodes one prompt after the other.
        var model = Model("sdar");
        var decoder = new DiffusionDecoder(model);
        var o = Options(model.Spec);
        var graph = Spiffy.Speculation.DraftGraph.Chain(4, o.ToSchema(), DraftGraph.TokensPerStep(o));
        var prompts = Prompts(3, 44, minLength: 2, maxLength: 12);
        var spec = new GraphSpeculator(new DraftGraph(graph), o.BlockLength);
        var batch = decoder.Generate(prompts, o, speculator: spec);
        for (int i = 0; i < prompts.Length; i++)
        {
            var alone = decoder.Generate(prompts[i], o, speculator: spec);
            Assert.Equal(alone.TokenIds, batch[i].TokenIds);
            AssertSameCounts(alone.Statistics, batch[i].Statistics, $"prompt {i}");
        }
    }

    [Fact]
    public void ASpeculatorWhoseDraftsChange_IsRefused_NotTrusted()
    {
        // The batch drafts every sequence before the forward and drafts a sequence again before its walk;
        // a speculator whose drafts depend on anything but its arguments would verify the wrong rows.
        var model = Model("llada");
        var o = Options(model.Spec, x => x with { Cache = CacheMode.Dual });
        var graph = SpiffyLosslessTests.WideGraph(o.ToSchema());
        var fickle = new FickleSpeculator(new GraphSpeculator(new DraftGraph(graph), o.BlockLength));
        var e = Assert.Throws<InvalidOperationException>(() => new DiffusionDecoder(model).Generate(Prompts(3, 45), o, speculator: fickle));
        Assert.Contains("Draft must depend on its arguments only", e.Message);
    }

    private static void AssertSameCounts(DecodingStatistics alone, DecodingStatistics batch, string what)
    {
        Assert.True(alone.Nfe == batch.Nfe, $"{what}: NFE {batch.Nfe} in the batch, {alone.Nfe} alone");
        Assert.Equal(alone.Steps, batch.Steps);
        Assert.Equal(alone.FreeSteps, batch.FreeSteps);
        Assert.Equal(alone.StepForwards, batch.StepForwards);
        Assert.Equal(alone.RowsTotal, batch.RowsTotal);
        Assert.Equal(alone.VerificationForwards, batch.VerificationForwards);
        Assert.Equal(alone.AcceptedByDepth, batch.AcceptedByDepth);
        Assert.Equal(alone.ScoredForwards, batch.ScoredForwards);
        Assert.Equal(alone.StepsPerBlock, batch.StepsPerBlock);
    }

    /// <summary>Drops its last draft on every other call: the same arguments give different rows.</summary>
    private sealed class FickleSpeculator(IStepSpeculator inner) : IStepSpeculator
    {
        private int _calls;
        public int MaxDrafts => inner.MaxDrafts;
        public int TopTokenRanks => inner.TopTokenRanks;
        public int Draft(ReadOnlySpan<long> state, int maskId, ReadOnlySpan<double> topProbs, ReadOnlySpan<long> topTokens, Span<long> drafts)
        {
            int d = inner.Draft(state, maskId, topProbs, topTokens, drafts);
            return ++_calls % 2 == 0 && d > 1 ? d - 1 : d;
        }
        public int Match(int parent, ReadOnlySpan<long> state) => inner.Match(parent, state);
        public int Depth(int draft) => inner.Depth(draft);
    }
}
