using Spiffy.Decoding;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Reliability;

/// <summary>
/// The in-use guard belongs to the <see cref="IStepSpeculator"/> contract, not to one implementation:
/// any speculator (here one that is neither the interpreted nor a generated one) serves one generation
/// at a time, a concurrent second use fails fast, and the lease ends with the generation, also when it throws.
/// </summary>
public class SpeculatorGuardTests
{
    /// <summary>Drafts nothing; its first Draft waits until the test lets it go, so a generation is surely in flight.</summary>
    private sealed class GatedSpeculator : IStepSpeculator
    {
        public readonly ManualResetEventSlim Entered = new(), Release = new();
        public bool Throw;
        public int MaxDrafts => 1;
        public int TopTokenRanks => 1;

        public int Draft(ReadOnlySpan<long> state, int maskId, ReadOnlySpan<double> topProbs, ReadOnlySpan<long> topTokens, Span<long> drafts)
        {
            if (Throw) throw new InvalidDataException("speculator failed");
            Entered.Set();
            Release.Wait(TimeSpan.FromSeconds(60));
            return 0;
        }

        public int Match(int parent, ReadOnlySpan<long> state) => -1;
        public int Depth(int draft) => 1;
    }

    [Fact]
    public async Task AnySpeculator_ServesOneGenerationAtATime_AndIsFreeAgainAfterwards()
    {
        var model = SpiffyModel.FromTransformer(Model("llada", layers: 1));
        var o = Options(model.Spec);
        var prompt = Prompts(1, 11)[0];
        var speculator = new GatedSpeculator();

        var first = Task.Run(() => model.Generate(prompt, o, speculator));
        Assert.True(speculator.Entered.Wait(TimeSpan.FromSeconds(60)), "the first generation never drafted");
        var second = Assert.Throws<InvalidOperationException>(() => SpiffyModel.FromTransformer(Model("llada", layers: 1)).Generate(prompt, o, speculator));
        Assert.Contains("this speculator (GatedSpeculator) is already in use by another generation", second.Message);
        speculator.Release.Set();
        var plain = model.Generate(prompt, o);
        Assert.Equal(plain.TokenIds, (await first).TokenIds);

        // The lease ended with the generation: the same speculator serves the next one, and a generation
        // that fails inside the speculator releases it too.
        Assert.Equal(plain.TokenIds, model.Generate(prompt, o, speculator).TokenIds);
        speculator.Throw = true;
        Assert.Throws<InvalidDataException>(() => model.Generate(prompt, o, speculator));
        speculator.Throw = false;
        Assert.Equal(plain.TokenIds, model.Generate(prompt, o, speculator).TokenIds);
    }
}
