using Spiffy.Decoding;
using Spiffy.Schema.Models;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Decoding;

public class DecoderTests
{
    [Theory]
    [InlineData("llada")]
    [InlineData("dream")]
    [InlineData("sdar")]
    public void OneTokenPerStep_DecodesEveryPosition_AndCountsOneForwardPerStep(string family)
    {
        var model = Model(family);
        var o = Options(model.Spec);
        foreach (var prompt in new[] { Prompts(1, 1)[0], new long[] { 3, 4, 5, 6, 7, 8, 9 }, new long[] { 3, 4, 5, 6, 7, 8, 9, 10 } })
        {
            var r = new DiffusionDecoder(model).Generate(prompt, o);
            // SDAR: the prompt stays at position 0 and the canvas is rounded up to whole blocks; the block
            // holding the prompt's tail is decoded with the first masks; a prefill forward stores the prompt's
            // whole blocks (when it has one) and one forward per decoded block stores its K/V.
            int p = prompt.Length, b = o.BlockLength;
            bool sdar = family == "sdar";
            int generated = sdar ? (p + o.GenLength + b - 1) / b * b - p : o.GenLength;
            int blocks = sdar ? (p + o.GenLength + b - 1) / b - p / b : o.NumBlocks;
            Assert.Equal(generated, r.TokenIds.Length);
            Assert.DoesNotContain((long)model.Spec.Tokens.Mask, r.TokenIds);
            Assert.Equal(generated, r.Statistics.Steps);
            int extra = sdar ? (p >= b ? 1 : 0) + blocks : 0;
            Assert.Equal(generated + extra, r.Statistics.Nfe);
            Assert.Equal(blocks, r.Statistics.StepsPerBlock.Count);
            Assert.Equal(generated, r.Statistics.StepsPerBlock.Sum());
        }
    }

    [Fact]
    public void Threshold_TakesFewerSteps_AndNfeEqualsSteps()
    {
        var model = Model("llada");
        var o = Options(model.Spec, x => x with { Unmasking = UnmaskingRule.Threshold, Threshold = 0.05 });
        var r = new DiffusionDecoder(model).Generate(Prompts(1, 2)[0], o);
        Assert.True(r.Statistics.Steps < o.GenLength, $"{r.Statistics.Steps} steps");
        Assert.Equal(r.Statistics.Steps, r.Statistics.Nfe);
        Assert.DoesNotContain((long)model.Spec.Tokens.Mask, r.TokenIds);
    }

    [Theory]
    [InlineData("llada", CacheMode.Prefix)]
    [InlineData("llada", CacheMode.Dual)]
    public void PrefixAndDualCache_AreExactForOneLayer(string family, CacheMode cache)
    {
        // With one layer the K/V of an unchanged position depend only on its own token, so the
        // Fast-dLLM approximations (frozen K/V outside what is fed) are exact: a check of the cached
        // paths against their definition. With more layers they legitimately differ (docs/decoding.md).
        // Not for Dream: its block's first position is predicted from position s-1, whose output the
        // cache freezes at block start (a second, documented approximation).
        var model = Model(family, layers: 1);
        var decoder = new DiffusionDecoder(model);
        foreach (var prompt in Prompts(3, 3))
        {
            var plain = decoder.Generate(prompt, Options(model.Spec));
            var cached = decoder.Generate(prompt, Options(model.Spec, x => x with { Cache = cache }));
            Assert.True(FirstDifference(plain.TokenIds, cached.TokenIds) < 0, $"{cache} differs at {FirstDifference(plain.TokenIds, cached.TokenIds)}");
            Assert.Equal(plain.Statistics.Nfe, cached.Statistics.Nfe);
        }
    }

    [Fact]
    public void DualCache_FirstStepOfABlock_EqualsTheUncachedStep()
    {
        // Multi-layer: the block-start forward is a full forward, so a block's first committed tokens agree.
        var model = Model("llada", layers: 3);
        var decoder = new DiffusionDecoder(model);
        var prompt = Prompts(1, 4)[0];
        var first = new FirstStepObserver();
        var firstDual = new FirstStepObserver();
        decoder.Generate(prompt, Options(model.Spec, x => x with { GenLength = 8, BlockLength = 8 }), observer: first);
        decoder.Generate(prompt, Options(model.Spec, x => x with { GenLength = 8, BlockLength = 8, Cache = CacheMode.Dual }), observer: firstDual);
        Assert.Equal(first.After, firstDual.After);
        Assert.Equal(first.TopProbs!, firstDual.TopProbs!, new ToleranceComparer(1e-5));
    }

    [Fact]
    public void Sdar_BlockCache_EqualsUncachedBlockCausalDecoding()
    {
        var model = Model("sdar", layers: 3);
        var decoder = new DiffusionDecoder(model);
        foreach (var prompt in Prompts(4, 5))
        {
            foreach (var rule in new[] { UnmaskingRule.Schedule, UnmaskingRule.DynamicTopK })
            {
                var cached = decoder.Generate(prompt, Options(model.Spec, x => x with { Unmasking = rule, Threshold = 0.3, K = 1 }));
                var plain = decoder.Generate(prompt, Options(model.Spec, x => x with
                {
                    Unmasking = rule,
                    Threshold = 0.3,
                    K = 1,
                    UncachedBlockCausal = true
                }));
                Assert.True(FirstDifference(plain.TokenIds, cached.TokenIds) < 0, $"{rule}: differs at {FirstDifference(plain.TokenIds, cached.TokenIds)}");
            }
        }
    }

    [Theory]
    [InlineData("llada", CacheMode.None)]
    [InlineData("dream", CacheMode.Dual)]
    [InlineData("sdar", CacheMode.None)]
    public void Batch_RowsOfDifferentLengths_EqualTheirSingleRuns(string family, CacheMode cache)
    {
        var model = Model(family, layers: 2);
        var decoder = new DiffusionDecoder(model);
        var prompts = Prompts(3, 6, 2, 11);
        var o = Options(model.Spec, x => x with { Cache = cache, Unmasking = UnmaskingRule.Threshold, Threshold = 0.2 });
        var batch = decoder.Generate(prompts, o);
        for (int i = 0; i < prompts.Length; i++)
        {
            var alone = decoder.Generate(prompts[i], o);
            Assert.True(FirstDifference(alone.TokenIds, batch[i].TokenIds) < 0, $"row {i} differs at {FirstDifference(alone.TokenIds, batch[i].TokenIds)}");
            Assert.Equal(alone.Statistics.Nfe, batch[i].Statistics.Nfe);
        }
    }

    [Fact]
    public void Sampling_IsReproducibleForASeed_AndChangesWithTheSeed()
    {
        var model = Model("llada");
        var decoder = new DiffusionDecoder(model);
        var prompt = Prompts(1, 8)[0];
        var a = decoder.Generate(prompt, Options(model.Spec, x => x with { Temperature = 1.0, Seed = 11 }));
        var b = decoder.Generate(prompt, Options(model.Spec, x => x with { Temperature = 1.0, Seed = 11 }));
        var c = decoder.Generate(prompt, Options(model.Spec, x => x with { Temperature = 1.0, Seed = 12 }));
        Assert.Equal(a.TokenIds, b.TokenIds);
        Assert.NotEqual(a.TokenIds, c.TokenIds);
    }

    [Theory]
    [InlineData(ConfidenceKind.Probability)]
    [InlineData(ConfidenceKind.Margin)]
    [InlineData(ConfidenceKind.NegativeEntropy)]
    public void EveryConfidenceKind_CommitsThePositionItsOwnScoreRanksFirst(ConfidenceKind kind)
    {
        // One token per step, greedy: each step must commit the masked position whose confidence, computed
        // here from the step's full distribution, is highest. A kind that fell back to another score fails.
        var model = Model("dream");
        var observer = new ConfidenceObserver(kind, Vocab, model.Spec.Tokens.Mask);
        foreach (var prompt in Prompts(3, 9))
            // The even schedule (one token every step); Dream's own timesteps schedule may commit none at a step.
            new DiffusionDecoder(model)
                .Generate(prompt, Options(model.Spec, x => x with { Confidence = kind, Seed = 1, Schedule = ScheduleKind.Even }), observer: observer);
        Assert.True(observer.Checked >= 3 * 32, $"only {observer.Checked} steps checked");
        Assert.True(observer.Decisive >= observer.Checked / 4, $"only {observer.Decisive} of {observer.Checked} steps told the kinds apart");
    }

    [Fact]
    public void RandomConfidence_DecodesAndDiffersFromProbability()
    {
        var model = Model("dream");
        var decoder = new DiffusionDecoder(model);
        int differ = 0;
        foreach (var prompt in Prompts(3, 9))
        {
            var random = decoder.Generate(prompt, Options(model.Spec, x => x with { Confidence = ConfidenceKind.Random, Seed = 1 }));
            var probability = decoder.Generate(prompt, Options(model.Spec, x => x with { Confidence = ConfidenceKind.Probability, Seed = 1 }));
            Assert.DoesNotContain((long)model.Spec.Tokens.Mask, random.TokenIds);
            if (FirstDifference(random.TokenIds, probability.TokenIds) >= 0) differ++;
        }
        Assert.True(differ > 0, "random remasking decoded exactly as probability remasking on every prompt");
    }

    [Theory]
    [InlineData("llada", CacheMode.None, false)]
    [InlineData("llada", CacheMode.Dual, false)]
    [InlineData("llada", CacheMode.None, true)]
    [InlineData("dream", CacheMode.Prefix, true)]
    [InlineData("sdar", CacheMode.None, true)]
    public void LiveTensors_DoNotGrowAcrossSteps(string family, CacheMode cache, bool spiffy)
    {
        var model = Model(family);
        var o = Options(model.Spec) with { Cache = model.Spec.Attention == AttentionKind.BlockCausal ? CacheMode.None : cache };
        var spec = spiffy ? new Spiffy.Speculation.GraphSpeculator(new Spiffy.Speculation.DraftGraph(
            Spiffy.Speculation.DraftGraph.Chain(3, o.ToSchema(), 1)), o.BlockLength) : null;
        var s = new DiffusionDecoder(model).Generate(Prompts(1, 3)[0], o, speculator: spec).Statistics;
        Assert.True(s.LiveTensorsFirstStep > 0, "live tensors were not measured");
        Assert.Equal(s.LiveTensorsFirstStep, s.LiveTensorsLastStep);
        Assert.Equal(s.LiveTensorsFirstStep, s.LiveTensorsPeak);
    }

    [Fact]
    public void EarlyStop_FillsTheRestWithEos_AndSavesForwards()
    {
        // A head of zeros makes every logit equal, so argmax picks id 0: with EOS = 0 the first block
        // is all EOS, which ends the text.
        var tiny = Spiffy.Tests.Checkpoints.CheckpointTestSupport.TinySpec("llada", Vocab);
        var spec = tiny with { Tokens = tiny.Tokens with { Eos = 0, Pad = 0 }, MaxSequenceLength = 128 };
        var model = Spiffy.Tests.Checkpoints.CheckpointTestSupport.RandomModel(spec, 3);
        using (TorchSharp.torch.no_grad()) model.NamedWeights()["lm_head"].zero_();
        var decoder = new DiffusionDecoder(model);
        var prompt = new long[] { 5, 6, 7 };
        var full = decoder.Generate(prompt, Options(spec));
        var early = decoder.Generate(prompt, Options(spec, x => x with { EarlyStop = true }));
        Assert.Equal(full.TokenIds, early.TokenIds);
        Assert.Equal(8, early.Statistics.Nfe);
        Assert.Equal(32, full.Statistics.Nfe);
        Assert.All(early.TokenIds, t => Assert.Equal(0, t));
    }

    [Theory]
    [InlineData(32, 7, 0, "divide")]
    [InlineData(32, 8, 6, "multiple")]
    [InlineData(300, 10, 0, "context")]
    public void InvalidOptions_AreRejectedWithAClearMessage(int gen, int block, int steps, string expected)
    {
        var model = Model("llada");
        var o = new DecodingOptions { GenLength = gen, BlockLength = block, Steps = steps };
        var e = Assert.Throws<ArgumentException>(() => new DiffusionDecoder(model).Generate(Prompts(1, 1)[0], o));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Threshold_OutOfRange_IsRejected()
    {
        var model = Model("llada");
        var e = Assert.Throws<ArgumentException>(() => new DiffusionDecoder(model).Generate(Prompts(1, 1)[0],
            Options(model.Spec, x => x with { Unmasking = UnmaskingRule.Threshold, Threshold = 1.5 })));
        Assert.Contains("tau", e.Message);
    }

    [Fact]
    public void StepRuleInvariants_HoldOnEveryStep()
    {
        var model = Model("llada");
        var obs = new InvariantObserver(model.Spec.Tokens.Mask);
        foreach (var rule in new[] { UnmaskingRule.Schedule, UnmaskingRule.Threshold, UnmaskingRule.Factor })
            new DiffusionDecoder(model).Generate(Prompts(1, 12)[0], Options(model.Spec, x => x with { Unmasking = rule, Threshold = 0.3 }), observer: obs);
        Assert.True(obs.Steps > 0);
    }

    private sealed class FirstStepObserver : IDecodeObserver
    {
        public long[]? After;
        public double[]? TopProbs;
        public int TopTokenRanks => 2;
        public void OnForward(int sequence, int block, ForwardKind kind, int rows) { }
        public void OnStep(int sequence, int block, int stepInBlock, ReadOnlySpan<long> before, ReadOnlySpan<double> topProbs, ReadOnlySpan<long> topTokens,
            ReadOnlySpan<long> after, bool free)
        {
            if (After is not null) return;
            After = after.ToArray();
            TopProbs = topProbs.ToArray();
        }
    }

    /// <summary>
    /// Recomputes each step's confidence of <paramref name="kind"/> from its full distribution and checks the
    /// committed position ranks first. Counts the steps where probability, margin and entropy disagree on it.
    /// </summary>
    private sealed class ConfidenceObserver(ConfidenceKind kind, int vocab, long mask) : IDecodeObserver
    {
        public int Checked, Decisive;
        public int TopTokenRanks => vocab;
        public void OnForward(int sequence, int block, ForwardKind kind, int rows) { }
        public void OnStep(int sequence, int block, int stepInBlock, ReadOnlySpan<long> before, ReadOnlySpan<double> topProbs, ReadOnlySpan<long> topTokens,
            ReadOnlySpan<long> after, bool free)
        {
            int committed = -1;
            var best = new Dictionary<ConfidenceKind, (int Position, double Score)>();
            for (int i = 0; i < before.Length; i++)
            {
                if (before[i] != mask) continue;
                if (after[i] != mask) { Assert.Equal(-1, committed); committed = i; }
                var p = topProbs.Slice(i * vocab, vocab);
                double entropy = 0;
                foreach (double q in p) if (q > 0) entropy -= q * Math.Log(q);
                foreach (var (k, score) in new[]
                {
                    (ConfidenceKind.Probability, p[0]), (ConfidenceKind.Margin, p[0] - p[1]), (ConfidenceKind.NegativeEntropy, -entropy)
                })
                    if (!best.TryGetValue(k, out var b) || score > b.Score) best[k] = (i, score);
            }
            Assert.True(committed >= 0, "a step committed nothing");
            Assert.Equal(best[kind].Position, committed);
            Checked++;
            if (best.Values.Select(b => b.Position).Distinct().Count() > 1) Decisive++;
        }
    }

    /// <summary>Every step commits at least one token, never re-masks, and changes only masked positions.</summary>
    private sealed class InvariantObserver(int mask) : IDecodeObserver
    {
        public int Steps;
        public int TopTokenRanks => 0;
        public void OnForward(int sequence, int block, ForwardKind kind, int rows) { }
        public void OnStep(int sequence, int block, int stepInBlock, ReadOnlySpan<long> before, ReadOnlySpan<double> topProbs, ReadOnlySpan<long> topTokens,
            ReadOnlySpan<long> after, bool free)
        {
            int committed = 0;
            for (int i = 0; i < before.Length; i++)
            {
                if (before[i] != mask) Assert.Equal(before[i], after[i]);
                else if (after[i] != mask) committed++;
            }
            Assert.True(committed >= 1, "a step committed nothing");
            Steps++;
        }
    }

    private sealed class ToleranceComparer(double tol) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tol;
        public int GetHashCode(double obj) => 0;
    }
}
