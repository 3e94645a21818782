using Spiffy.Limits;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using Xunit.Abstractions;
using static Spiffy.Tests.Checkpoints.CheckpointTestSupport;

namespace Spiffy.Tests.Reliability;

public class MemoryBudgetTests(ITestOutputHelper output)
{
    private static readonly ModelSpec Llada = ModelDescription.Load(RealModelFile("llada"));
    private static readonly ModelSpec Dream = ModelDescription.Load(RealModelFile("dream"));

    private static GenerationShape Shape(int drafts = 3, CacheLayout cache = CacheLayout.Dual, int batch = 1, int prompt = 200, int gen = 256)
        => new(batch, prompt, gen, 32, drafts, cache, ElementBytes: 2);

    [Fact]
    public void Parts_FollowTheirFormulas()
    {
        Assert.Equal(Llada.ParameterCount * 2, MemoryBudget.WeightBytes(Llada, 2));
        // layers x 2 x batch x length x kv heads x head dim x bytes: Dream 28 x 2 x 2 x 456 x 4 x 128 x 2.
        Assert.Equal(28L * 2 * 2 * 456 * 4 * 128 * 2, MemoryBudget.KvCacheBytes(Dream, 2, 456, 2));
        Assert.Equal(4L * 32 * 126464 * MemoryBudget.ScoreBytesPerEntry, MemoryBudget.VerificationBytes(4, 32, 126464));
        var e = MemoryBudget.Estimate(Llada, Shape());
        Assert.Equal(MemoryBudget.KvCacheBytes(Llada, 1, 456, 2), e.KvCache);
        Assert.Equal(MemoryBudget.VerificationBytes(4, 32, Llada.VocabSize), e.Verification);
        Assert.Equal(e.Weights + e.KvCache + e.Verification + e.Activations, e.Total);
        Assert.Equal(0, MemoryBudget.Estimate(Llada, Shape(cache: CacheLayout.None)).KvCache);
        Assert.Equal(0, MemoryBudget.Estimate(Llada, Shape(), includeWeights: false).Weights);
    }

    [Fact]
    public void Estimate_GrowsWithEverySetting()
    {
        var s = Shape();
        long total = MemoryBudget.Estimate(Llada, s).Total;
        Assert.True(MemoryBudget.Estimate(Llada, s with { Drafts = 4 }).Total > total);
        Assert.True(MemoryBudget.Estimate(Llada, s with { Batch = 2 }).Total > total);
        Assert.True(MemoryBudget.Estimate(Llada, s with { GenLength = 288 }).Total > total);
        Assert.True(MemoryBudget.Estimate(Llada, s with { PromptLength = 201 }).Total > total);
        Assert.True(MemoryBudget.Estimate(Llada, s with { Cache = CacheLayout.None }).Total > total);
    }

    [Fact]
    public void Check_NotFitting_SaysTheEstimateTheAvailableAndWhatWouldFit()
    {
        var s = Shape(drafts: 10, batch: 4, gen: 1024, cache: CacheLayout.None);
        long weights = MemoryBudget.WeightBytes(Llada, 2);
        long available = weights + MemoryBudget.Estimate(Llada, s with { Drafts = 2 }, includeWeights: false).Total;
        var fit = MemoryBudget.Check(Llada, s, available: available);
        output.WriteLine(fit.Message);
        Assert.False(fit.Fits);
        Assert.Equal(2, fit.MaxDrafts);
        Assert.True(MemoryBudget.Estimate(Llada, s with { Drafts = fit.MaxDrafts }).Total <= available);
        Assert.True(MemoryBudget.Estimate(Llada, s with { Drafts = fit.MaxDrafts + 1 }).Total > available);
        if (fit.MaxGenLength > 0)
        {
            Assert.True(fit.MaxGenLength % 32 == 0 && fit.MaxGenLength < 1024);
            Assert.True(MemoryBudget.Estimate(Llada, s with { GenLength = fit.MaxGenLength }).Total <= available);
            Assert.True(MemoryBudget.Estimate(Llada, s with { GenLength = fit.MaxGenLength + 32 }).Total > available);
            Assert.Contains($"generation length <= {fit.MaxGenLength}", fit.Message);
        }
        Assert.InRange(fit.MaxBatch, 1, 3);
        Assert.Contains($"batch <= {fit.MaxBatch}", fit.Message);
        foreach (var part in new[]
        {
            "not enough memory", "needs about", $"weights {MemoryBudget.Format(weights)}", "K/V cache", "verification batch", "is available", "D* <= 2"
        })
            Assert.Contains(part, fit.Message);
        var ex = Assert.Throws<InsufficientMemoryException>(() => MemoryBudget.EnsureFits(Llada, s, available: available));
        Assert.Equal(fit.Message, ex.Message);
    }

    [Fact]
    public void Check_WhenTheWeightsAloneDoNotFit_SaysSo()
    {
        var fit = MemoryBudget.Check(Llada, Shape(), available: 1L << 30);
        Assert.False(fit.Fits);
        Assert.Equal(0, fit.MaxGenLength);
        Assert.Contains($"The weights alone need {MemoryBudget.Format(MemoryBudget.WeightBytes(Llada, 2))}", fit.Message);
        // An already loaded model: only the generation's own memory counts.
        Assert.True(MemoryBudget.Check(Llada, Shape(), includeWeights: false, available: 16L << 30).Fits);
    }

    [Fact]
    public void Check_AbsurdShapes_DoNotOverflowIntoAFit()
    {
        var s = new GenerationShape(int.MaxValue, int.MaxValue, int.MaxValue, 32, int.MaxValue, CacheLayout.None);
        var fit = MemoryBudget.Check(Llada, s, available: long.MaxValue);
        Assert.False(fit.Fits);
        Assert.Contains("not enough memory", fit.Message);
    }

    [Fact]
    public void Available_ReadsMemAvailable_AndTheGcLimit()
    {
        Assert.Equal(16_264_300L * 1024,
            MemoryBudget.ParseMemAvailable("MemTotal:       32528600 kB\nMemFree:         1000 kB\nMemAvailable:   16264300 kB\n"));
        Assert.Null(MemoryBudget.ParseMemAvailable("MemTotal: 1 kB\n"));
        Assert.Null(MemoryBudget.ParseMemAvailable("MemAvailable: lots\n"));
        long available = MemoryBudget.AvailableBytes();
        Assert.InRange(available, 1, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
        Assert.True(MemoryBudget.Check(Llada, Shape(), available: null).Available <= GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
    }
}
