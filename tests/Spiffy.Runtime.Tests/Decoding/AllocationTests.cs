using Spiffy.Decoding;
using Spiffy.Schema.Models;
using Spiffy.Speculation;
using static Spiffy.Tests.Decoding.DecodingTestSupport;

namespace Spiffy.Tests.Decoding;

/// <summary>
/// The decode loop allocates no managed memory per step in steady state (docs/decoding.md): from the end of the
/// first step forward to the end of the last, block starts and ends included, for every cache mode and sampler,
/// Spiffy on and off. Allocation counts are deterministic, so these are exact checks, not timings.
/// </summary>
public sealed class AllocationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    public static TheoryData<string, CacheMode, bool, string> Cases()
    {
        var data = new TheoryData<string, CacheMode, bool, string>();
        foreach (bool spiffy in new[] { false, true })
        {
            foreach (var cache in new[] { CacheMode.None, CacheMode.Prefix, CacheMode.Dual })
            {
                data.Add("llada", cache, spiffy, "greedy");
                data.Add("dream", cache, spiffy, "greedy");
            }
            data.Add("sdar", CacheMode.None, spiffy, "greedy");
            data.Add("llada", CacheMode.Dual, spiffy, "gumbel");
            data.Add("llada", CacheMode.None, spiffy, "random");
            data.Add("dream", CacheMode.Dual, spiffy, "categorical");
            data.Add("dream", CacheMode.None, spiffy, "alg_temp");
            data.Add("sdar", CacheMode.None, spiffy, "multinomial");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SteadyStateSteps_AllocateNoManagedBytes(string family, CacheMode cache, bool spiffy, string sampling)
    {
        var model = Model(family);
        var o = Options(model.Spec, x => sampling switch
        {
            "gumbel" => x with { Temperature = 0.8 },
            "random" => x with { Confidence = ConfidenceKind.Random },
            "categorical" => x with { Temperature = 0.9, TopP = 0.9, TopK = 12 },
            "alg_temp" => x with { AlgTemp = 0.5 },
            "multinomial" => x with { Temperature = 1.0 },
            _ => x,
        });
        if (model.Spec.Attention != AttentionKind.BlockCausal) o = o with { Cache = cache };
        var speculator = spiffy ? new GraphSpeculator(new DraftGraph(DraftGraph.Chain(3, o.ToSchema(), 1)), o.BlockLength) : null;
        var decoder = new DiffusionDecoder(model);
        var prompt = Prompts(1, 3)[0];
        decoder.Generate(prompt, o, speculator: speculator); // first use: JIT, the thread's arena and the rule's buffers
        var s = decoder.Generate(prompt, o, speculator: speculator).Statistics.Batch;
        output.WriteLine($"{family} {cache} spiffy={spiffy} {sampling}: {s.SteadyStateBytes} B over {s.SteadyStateStepForwards} step forwards, "
            + $"{s.SteadyStateTensors} TorchSharp tensors, {s.SteadyStateNativeTensors} native tensors");
        Assert.True(s.SteadyStateStepForwards >= 8, $"only {s.SteadyStateStepForwards} steady-state step forwards were measured");
        Assert.True(s.SteadyStateNativeTensors > 0, "no native tensors were counted: the measurement did not cover the steps");
        Assert.Equal(0, s.SteadyStateTensors);
        Assert.Equal(0, s.SteadyStateBytes);
    }

    [Theory]
    [InlineData(CacheMode.None)]
    [InlineData(CacheMode.Dual)]
    public void SteadyStateBatchSteps_AllocateNoManagedBytes(CacheMode cache)
    {
        var model = Model("llada");
        var o = Options(model.Spec) with { Cache = cache };
        var speculator = new GraphSpeculator(new DraftGraph(DraftGraph.Chain(3, o.ToSchema(), 1)), o.BlockLength);
        var decoder = new DiffusionDecoder(model);
        var prompts = Prompts(3, 5);
        decoder.Generate(prompts, o, speculator: speculator);
        var s = decoder.Generate(prompts, o, speculator: speculator)[0].Statistics.Batch;
        output.WriteLine($"batch of 3, {cache}: {s.SteadyStateBytes} B over {s.SteadyStateStepForwards} step forwards, "
            + $"{s.SteadyStateNativeTensors} native tensors");
        Assert.True(s.SteadyStateStepForwards >= 8, $"only {s.SteadyStateStepForwards} steady-state step forwards were measured");
        Assert.Equal(0, s.SteadyStateTensors);
        Assert.Equal(0, s.SteadyStateBytes);
    }
}
