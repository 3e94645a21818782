using Spiffy.Decoding;
using Spiffy.Generators.Tests.Support;
using Spiffy.Schema.Graphs;

namespace Spiffy.Generators.Tests;

/// <summary>The host-side traversal the generator emits allocates nothing per step.</summary>
public class AllocationTests
{
    [Theory]
    [InlineData(0)] // every node kept (DraftKeep.All)
    [InlineData(3)] // dynamic pruning
    public void DraftMatchAndDepthAllocateNothingAfterWarmUp(int keep)
    {
        var decoders = LoadedDecoders.Build(Inputs.With(("llada-demo.json", TestGraphs.ToJson(Inputs.FamilyGraph("gsm8k-small", "llada")))),
            "AllocationDecoders" + keep);
        IStepSpeculator spec = decoders.Create("LladaDemoDecoder", keep == 0 ? DraftKeep.All : DraftKeep.Of(keep));
        const int b = 32;
        int j = spec.TopTokenRanks;
        // Precomputed distributions and states, so the loop itself allocates nothing.
        var rng = new Random(5);
        var states = new long[8][];
        var probs = new double[8][];
        var tokens = new long[8][];
        for (int k = 0; k < 8; k++)
        {
            states[k] = Enumerable.Range(0, b).Select(i => rng.NextDouble() < 0.6 ? 1L : rng.Next(2, 6)).ToArray();
            probs[k] = Enumerable.Range(0, b * j).Select(i => i % j == 0 ? 0.5 + rng.NextDouble() / 2 : rng.NextDouble() / 4).ToArray();
            tokens[k] = Enumerable.Range(0, b * j).Select(i => (long)rng.Next(2, 6)).ToArray();
        }
        var drafts = new long[spec.MaxDrafts * b];
        long sink = 0;
        void Step(int k)
        {
            int n = spec.Draft(states[k], 1, probs[k], tokens[k], drafts);
            int node = -1;
            for (int r = 0; r < n; r++)
            {
                sink += spec.Depth(r);
                int q = spec.Match(node, drafts.AsSpan(r * b, b));
                if (q >= 0) node = q;
            }
            sink += spec.Match(-1, states[k]);
        }
        for (int i = 0; i < 2000; i++) Step(i % 8); // warm-up, including tiered JIT
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10000; i++) Step(i % 8);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.NotEqual(0, sink);
    }
}
