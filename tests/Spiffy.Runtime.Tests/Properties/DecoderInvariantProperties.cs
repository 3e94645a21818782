using CsCheck;
using Spiffy.Decoding;
using Spiffy.Speculation;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Properties;

/// <summary>
/// Step-rule invariants observed on whole generations (plain and with a random draft graph): every
/// step commits at least one token, never re-masks or rewrites a committed position, works only on
/// the current block (a finished block never changes afterwards), and in threshold mode commits
/// exactly the set the rule defines for the distribution it was given.
/// </summary>
public class DecoderInvariantProperties
{
    /// <summary>Checks each step as it happens; collects the first violation.</summary>
    private sealed class Checker(long mask, double? tau, bool firstPositionStart = false) : IDecodeObserver
    {
        public string? Violation;
        public int StepsSeen;
        private int _block = -1, _lastStep = -1;

        public int TopTokenRanks => 2;

        public void OnForward(int sequence, int block, ForwardKind kind, int rows) { }

        public void OnStep(int sequence, int block, int stepInBlock, ReadOnlySpan<long> before, ReadOnlySpan<double> topProbs,
            ReadOnlySpan<long> topTokens, ReadOnlySpan<long> after, bool free)
        {
            StepsSeen++;
            if (Violation is not null) return;
            if (block < _block) { Violation = $"block went back from {_block} to {block}"; return; }
            if (block != _block) { _block = block; _lastStep = -1; }
            if (stepInBlock != _lastStep + 1) { Violation = $"block {block}: step {stepInBlock} after {_lastStep}"; return; }
            _lastStep = stepInBlock;
            int committed = 0;
            var set = new HashSet<int>();
            for (int i = 0; i < before.Length; i++)
            {
                if (before[i] != mask && after[i] != before[i])
                {
                    Violation = $"block {block} step {stepInBlock}: committed position {i} changed ({before[i]} -> {after[i]})"; return;
                }
                if (before[i] == mask && after[i] != mask) { committed++; set.Add(i); }
            }
            if (committed == 0) { Violation = $"block {block} step {stepInBlock}: nothing committed"; return; }
            if (firstPositionStart && stepInBlock == 0)
            {
                // Dream's cached block start writes the block's first position only.
                if (committed != 1 || !set.Contains(0))
                    Violation = $"block {block}: the block-start forward committed {{{string.Join(",", set.Order())}}}, not {{0}}";
                return;
            }
            if (tau is double t)
            {
                // Greedy probability confidence: the confidence of a position is its top-1 probability.
                // The stride is the decoder's rank count (a speculator may ask for more ranks than this observer).
                int J = topProbs.Length / before.Length;
                var b = before.ToArray();
                var probs = topProbs.ToArray();
                var masked = Enumerable.Range(0, b.Length).Where(i => b[i] == mask).ToArray();
                int best = masked.OrderByDescending(i => probs[i * J]).ThenBy(i => i).First();
                var expected = new HashSet<int>(masked.Where(i => probs[i * J] >= t)) { best };
                if (!expected.SetEquals(set))
                    Violation = $"block {block} step {stepInBlock}: committed {{{string.Join(",", set.Order())}}}, the rule defines "
                        + $"{{{string.Join(",", expected.Order())}}}";
                foreach (int i in set)
                    if (topProbs[i * J] != topProbs[i * J + 1] && after[i] != topTokens[i * J])
                        Violation = $"position {i}: wrote {after[i]}, argmax is {topTokens[i * J]}";
            }
        }
    }

    public static TheoryData<string, string> Decoders() => new()
    {
        { "llada", "schedule" }, { "llada", "schedule-2" }, { "llada", "threshold" }, { "llada", "factor" },
        { "llada", "prefix" }, { "llada", "dual-threshold" }, { "dream", "prefix-threshold" }, { "sdar", "dynamic" },
    };

    private static readonly Gen<long[]> Prompt = Gen.Long[0, Vocab - 4].Array[1, 9];

    [Theory]
    [MemberData(nameof(Decoders))]
    public void EveryStep_CommitsWithinTheBlock_AndNeverRemasks(string family, string kind)
    {
        var model = SpiffyLosslessProperties.SharedModel(family);
        var decoder = new DiffusionDecoder(model);
        var baseOptions = Speculation.SpiffyLosslessTests.Configure(Options(model.Spec), kind);
        long mask = model.Spec.Tokens.Mask;
        Gen.Select(Prompt, Gen.Int[5, 95], Gen.Bool, RandomGraphs.Ops).Sample((prompt, tauPct, spiffy, ops) =>
        {
            var o = baseOptions;
            bool threshold = o.Unmasking == UnmaskingRule.Threshold;
            if (threshold || o.Unmasking == UnmaskingRule.DynamicTopK) o = o with { Threshold = tauPct / 100.0 };
            var checker = new Checker(mask, threshold ? o.Threshold : null, o.BlockStart == BlockStartRule.FirstPosition && o.Cache != CacheMode.None);
            var finished = new Dictionary<int, long[]>();
            IStepSpeculator? spec = spiffy ? new GraphSpeculator(new DraftGraph(RandomGraphs.Build(ops, o.ToSchema())), o.BlockLength) : null;
            var r = decoder.Generate(prompt, o, speculator: spec, observer: checker,
                onBlock: (seq, blk, tokens) => Assert.True(finished.TryAdd(blk, tokens.ToArray()), $"block {blk} finished twice"));
            Assert.Null(checker.Violation);
            Assert.Equal(r.Statistics.Steps, checker.StepsSeen);
            Assert.DoesNotContain(mask, r.TokenIds);
            // A finished block is never written again: the output is the blocks as they were when they finished, in order
            // (SDAR's first block without the prompt's tail).
            Assert.Equal(finished.OrderBy(kv => kv.Key).SelectMany(kv => kv.Value).ToArray(), r.TokenIds);
        }, iter: 4, threads: 1);
    }
}
