using CsCheck;
using Spiffy.Decoding;

namespace Spiffy.Tests.Properties;

/// <summary>
/// Invariants of <see cref="StepRule.Select"/> on random blocks and confidences (ties included):
/// at least one commit while a mask remains, only masked positions, each once, the most confident
/// first (ties to the lower position), and exactly the set each unmasking rule defines.
/// </summary>
public class StepRuleProperties
{
    internal sealed record Case(UnmaskingRule Rule, bool[] Masked, double[] Confidence, int StepsPerBlock, int StepInBlock, double Tau, double Factor, int K)
    {
        public int B => Masked.Length;
        public override string ToString()
            => $"{Rule} masked=[{string.Join(",", Masked.Select(m => m ? 1 : 0))}] conf=[{string.Join(",", Confidence)}] spb={StepsPerBlock} "
                + $"step={StepInBlock} tau={Tau} f={Factor} k={K}";
    }

    // Confidences from a coarse grid so that ties (and values exactly at tau) are common.
    private static readonly Gen<double> Conf = Gen.OneOf(Gen.Int[0, 20].Select(i => i / 20.0), Gen.Double[0, 1]);

    internal static readonly Gen<Case> Cases =
        from b in Gen.Int[1, 16]
        from masked in Gen.Bool.Array[b]
        from conf in Conf.Array[b]
            // Origin commits random positions, not a confidence prefix (DreamOriginTests check it).
        from rule in Gen.Enum<UnmaskingRule>().Where(r => r != UnmaskingRule.Origin)
        from spb in Gen.Int[1, b]
        from step in Gen.Int[0, spb - 1]
        from tau in Gen.Int[1, 20].Select(i => i / 20.0)
        from factor in Gen.Double[0.01, 4]
        from k in Gen.Int[1, b]
        select new Case(rule, masked, conf, spb, step, tau, factor, k);

    private static StepRule RuleFor(Case c) => new(new DecodingOptions
    {
        GenLength = c.B * 2, BlockLength = c.B, Steps = c.StepsPerBlock * 2, Unmasking = c.Rule, Threshold = c.Tau, Factor = c.Factor, K = c.K,
    });

    /// <summary>Masked positions by (confidence descending, position ascending).</summary>
    private static int[] Ranked(Case c)
        => Enumerable.Range(0, c.B).Where(i => c.Masked[i]).OrderByDescending(i => c.Confidence[i]).ThenBy(i => i).ToArray();

    [Fact]
    public void Select_CommitsAConfidencePrefix_OfTheSizeTheRuleDefines()
    {
        Cases.Sample(c =>
        {
            var rule = RuleFor(c);
            var chosen = new int[c.B];
            int initial = c.Masked.Count(m => m) + c.StepInBlock; // any block start count consistent with the step
            int count = rule.Select(c.Masked, c.Confidence, initial, c.StepInBlock, chosen);
            var ranked = Ranked(c);
            if (ranked.Length == 0) { Assert.Equal(0, count); return; }
            Assert.InRange(count, 1, ranked.Length);
            // A prefix of the ranking: only masked positions, each once, best first, ties to the lower position.
            Assert.Equal(ranked.Take(count), chosen.Take(count));
            int expected = c.Rule switch
            {
                // The even split of the block length (an independent oracle: LLaDA's get_num_transfer_tokens), which
                // SDAR applies even when the prompt's tail fills part of the block; LLaDA's blocks start fully masked.
                UnmaskingRule.Schedule => LladaTransferCounts(c.B, c.StepsPerBlock)[c.StepInBlock],
                UnmaskingRule.Threshold => 1 + ranked.Skip(1).Count(i => c.Confidence[i] >= c.Tau),
                UnmaskingRule.Factor => FactorPrefix(c, ranked),
                _ => Math.Max(ranked.Count(i => c.Confidence[i] > c.Tau), Math.Max(c.K, LladaTransferCounts(c.B, c.StepsPerBlock)[c.StepInBlock])),
            };
            Assert.Equal(Math.Clamp(expected, 1, ranked.Length), count);
            if (c.Rule == UnmaskingRule.Threshold)
            {
                // Exactly the defined set: the best candidate plus every candidate at or above tau.
                var set = new HashSet<int>(ranked.Where(i => c.Confidence[i] >= c.Tau)) { ranked[0] };
                Assert.True(set.SetEquals(chosen.Take(count)));
            }
        }, iter: 5000, threads: 1);
    }

    /// <summary>
    /// The oracle, written as ML-GSAI's get_num_transfer_tokens builds it: every step of the block gets
    /// masks // steps tokens, and the first masks % steps steps one more.
    /// </summary>
    private static int[] LladaTransferCounts(int masks, int steps)
    {
        var counts = new int[steps];
        for (int s = 0; s < steps; s++) counts[s] = masks / steps;
        for (int s = 0; s < masks % steps; s++) counts[s] += 1;
        return counts;
    }

    [Fact]
    public void ScheduledCounts_OfABlock_SumToItsMasks()
    {
        Gen.Select(Gen.Int[0, 256], Gen.Int[1, 64]).Sample((masks, steps) =>
        {
            // One block of 256 positions decoded in `steps` steps.
            var rule = new StepRule(new DecodingOptions { Unmasking = UnmaskingRule.Schedule, GenLength = 256, BlockLength = 256, Steps = steps });
            int total = 0;
            for (int s = 0; s < steps; s++) total += rule.ScheduledCount(masks, s);
            Assert.Equal(masks, total);
        }, iter: 2000, threads: 1);
    }

    private static int FactorPrefix(Case c, int[] ranked)
    {
        int n = 1;
        while (n < ranked.Length && c.Confidence[ranked[n]] >= 1.0 - c.Factor / (n + 2)) n++;
        return n;
    }

    [Fact]
    public void Schedule_CommitsEveryMaskOfTheBlock_OverItsSteps()
    {
        Gen.Select(Gen.Int[1, 32], Gen.Int[1, 32]).Sample((b, spbRaw) =>
        {
            int spb = (spbRaw - 1) % b + 1;
            var rule = new StepRule(new DecodingOptions { GenLength = b, BlockLength = b, Steps = spb });
            int total = 0;
            for (int s = 0; s < spb; s++)
            {
                int k = rule.ScheduledCount(b, s);
                Assert.True(k >= 1, "a scheduled step commits nothing");
                total += k;
            }
            Assert.Equal(b, total);
        }, iter: 500, threads: 1);
    }
}
