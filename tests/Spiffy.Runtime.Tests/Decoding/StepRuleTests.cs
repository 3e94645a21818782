using Spiffy.Decoding;

namespace Spiffy.Tests.Decoding;

public class StepRuleTests
{
    private static StepRule Rule(Func<DecodingOptions, DecodingOptions> f) => new(f(new DecodingOptions { GenLength = 32, BlockLength = 8 }));

    [Theory]
    [InlineData(8, 8, new[] { 1, 1, 1, 1, 1, 1, 1, 1 })]
    [InlineData(8, 3, new[] { 3, 3, 2 })]
    [InlineData(8, 2, new[] { 4, 4 })]
    [InlineData(5, 3, new[] { 2, 2, 1 })]
    public void Schedule_SplitsTheBlockMasksEvenly_EarlierStepsTakeTheRemainder(int masks, int stepsPerBlock, int[] expected)
    {
        var rule = Rule(o => o with { Steps = stepsPerBlock * 4 });
        var got = Enumerable.Range(0, stepsPerBlock).Select(i => rule.ScheduledCount(masks, i)).ToArray();
        Assert.Equal(expected, got);
        Assert.Equal(masks, got.Sum());
    }

    [Fact]
    public void Select_BreaksTiesTowardTheLowerPosition()
    {
        var rule = Rule(o => o with { Steps = 32 });
        var masked = Enumerable.Repeat(true, 8).ToArray();
        var conf = new double[] { 0.1, 0.5, 0.5, 0.2, 0.5, 0.0, 0.3, 0.5 };
        var chosen = new int[8];
        Assert.Equal(1, rule.Select(masked, conf, 8, 0, chosen));
        Assert.Equal(1, chosen[0]);
    }

    [Fact]
    public void Select_NeverPicksCommittedPositions()
    {
        var rule = Rule(o => o with { Steps = 8 }); // 4 tokens per step
        var masked = new[] { false, true, false, true, true, false, true, true };
        var conf = new double[] { 0.99, 0.1, 0.98, 0.2, 0.3, 0.97, 0.4, 0.5 };
        var chosen = new int[8];
        int n = rule.Select(masked, conf, 8, 0, chosen);
        Assert.Equal(4, n);
        Assert.All(chosen[..n], i => Assert.True(masked[i]));
        Assert.Equal(new[] { 7, 6, 4, 3 }, chosen[..n]);
    }

    [Fact]
    public void Threshold_CommitsTheBestPlusEveryCandidateAtOrAboveTau()
    {
        var rule = Rule(o => o with { Unmasking = UnmaskingRule.Threshold, Threshold = 0.9 });
        var masked = Enumerable.Repeat(true, 8).ToArray();
        var chosen = new int[8];
        Assert.Equal(1, rule.Select(masked, new double[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8 }, 8, 0, chosen));
        Assert.Equal(7, chosen[0]);
        int n = rule.Select(masked, new double[] { 0.95, 0.2, 0.9, 0.4, 0.5, 0.91, 0.7, 0.8 }, 8, 0, chosen);
        Assert.Equal(new[] { 0, 5, 2 }, chosen[..n]);
    }

    [Fact]
    public void Factor_CommitsTheLongestPrefixWithinTheFactorBound()
    {
        // Sorted confidences 0.99, 0.8, 0.7, 0.6 ...: k=1 needs >= 1 - 1/3 = 0.667 (0.8 ok), k=2 needs >= 0.75 (0.7 fails).
        var rule = Rule(o => o with { Unmasking = UnmaskingRule.Factor, Factor = 1.0 });
        var masked = Enumerable.Repeat(true, 8).ToArray();
        var chosen = new int[8];
        int n = rule.Select(masked, new double[] { 0.6, 0.99, 0.1, 0.7, 0.8, 0.2, 0.3, 0.4 }, 8, 0, chosen);
        Assert.Equal(new[] { 1, 4 }, chosen[..n]);
    }

    [Fact]
    public void DynamicTopK_TakesAllAboveTauWhenThereAreAtLeastK_ElseTheTopK()
    {
        var rule = Rule(o => o with { Unmasking = UnmaskingRule.DynamicTopK, Threshold = 0.5, K = 2 });
        var masked = Enumerable.Repeat(true, 8).ToArray();
        var chosen = new int[8];
        Assert.Equal(3, rule.Select(masked, new double[] { 0.6, 0.7, 0.1, 0.8, 0.2, 0.3, 0.4, 0.1 }, 8, 0, chosen));
        int n = rule.Select(masked, new double[] { 0.6, 0.1, 0.1, 0.3, 0.2, 0.1, 0.4, 0.1 }, 8, 0, chosen);
        Assert.Equal(new[] { 0, 6 }, chosen[..n]);
    }

    [Theory]
    // Dream's rule, worked by hand: t = linspace(1, 0.001, 9), step i commits int(n * (1 - t[i+1] / t[i])).
    // 8 masks over 8 steps: 8 * 0.1249 = 0.999 -> 0 first, then 1 each, the last step the remaining 2.
    [InlineData(8, 8, new[] { 0, 1, 1, 1, 1, 1, 1, 2 })]
    // 8 masks over 4 steps: 8 * 0.24975 = 1.998 -> 1, 7 * 0.333 -> 2, 5 * 0.4995 -> 2, then the remaining 3.
    [InlineData(8, 4, new[] { 1, 2, 2, 3 })]
    public void Timesteps_FollowsDreamsSchedule(int masks, int stepsPerBlock, int[] expected)
    {
        var rule = new StepRule(new DecodingOptions { GenLength = 8, BlockLength = 8, Steps = stepsPerBlock, Schedule = ScheduleKind.Timesteps });
        var got = new int[stepsPerBlock];
        int n = masks;
        for (int i = 0; i < stepsPerBlock; i++) { got[i] = rule.TimestepCount(n, i); n -= got[i]; }
        Assert.Equal(expected, got);
    }

    [Fact]
    public void Timesteps_MayCommitNothing_AndFirstPositionBlockStartCommitsPositionZeroOnly()
    {
        var masked = Enumerable.Repeat(true, 8).ToArray();
        var conf = new double[] { 0.1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3 };
        var chosen = new int[8];
        var plain = new StepRule(new DecodingOptions { GenLength = 8, BlockLength = 8, Schedule = ScheduleKind.Timesteps });
        Assert.Equal(0, plain.Select(masked, conf, 8, 0, chosen));
        var cached = new StepRule(new DecodingOptions
        {
            GenLength = 8, BlockLength = 8, Schedule = ScheduleKind.Timesteps, Cache = CacheMode.Dual, BlockStart = BlockStartRule.FirstPosition
        });
        Assert.Equal(1, cached.Select(masked, conf, 8, 0, chosen));
        Assert.Equal(0, chosen[0]);
        Assert.Equal(1, cached.Select(masked, conf, 8, 1, chosen)); // step 1 of 8 with 8 masks: int(8 * (1 - t2 / t1)) = 1
        Assert.Equal(1, chosen[0]);
    }

    [Fact]
    public void Timesteps_EqualTorchLinspaceValues()
    {
        // torch.linspace(1, 0.001, 5) in float32.
        Assert.Equal(new[] { 1f, 0.75025f, 0.5005f, 0.25075f, 0.001f }, StepRule.Timesteps(5, 1e-3));
    }

    [Fact]
    public void NoiseSeed_DependsOnSeedAndStepOnly()
    {
        Assert.Equal(StepRule.NoiseSeed(3, 17), StepRule.NoiseSeed(3, 17));
        Assert.NotEqual(StepRule.NoiseSeed(3, 17), StepRule.NoiseSeed(3, 18));
        Assert.NotEqual(StepRule.NoiseSeed(3, 17), StepRule.NoiseSeed(4, 17));
    }
}
