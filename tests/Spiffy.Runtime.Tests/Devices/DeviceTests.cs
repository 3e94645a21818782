using Spiffy.Benchmarking;
using Spiffy.Checkpoints;
using Spiffy.Decoding;
using Spiffy.Devices;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using Spiffy.Tests.Checkpoints;
using Spiffy.Tests.Decoding;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Tests.Devices;

public class DeviceTests
{
    [Theory]
    [InlineData("auto", ComputeDeviceKind.Auto, null)]
    [InlineData("cpu", ComputeDeviceKind.Cpu, null)]
    [InlineData("CUDA", ComputeDeviceKind.Cuda, null)]
    [InlineData("cuda:0", ComputeDeviceKind.Cuda, 0)]
    [InlineData(" cuda:3 ", ComputeDeviceKind.Cuda, 3)]
    public void Parse_AcceptsTheDocumentedSpellings(string text, ComputeDeviceKind kind, int? index)
    {
        var d = ComputeDevice.Parse(text);
        Assert.Equal(kind, d.Kind);
        Assert.Equal(index, d.Index);
        Assert.Equal(d, ComputeDevice.Parse(d.ToString()));
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:x")]
    [InlineData("cpu:0")]
    [InlineData("")]
    public void Parse_RejectsOtherText_NamingTheSyntax(string text)
    {
        var e = Assert.Throws<FormatException>(() => ComputeDevice.Parse(text));
        Assert.Contains(ComputeDevice.Syntax, e.Message);
    }

    [Fact]
    public void Resolve_FollowsWhatTorchSharpFinds()
    {
        Assert.Equal(DeviceType.CPU, ComputeDevice.Cpu.Resolve().type);
        int count = ComputeDevice.CudaCount();
        var auto = ComputeDevice.Auto.Resolve();
        Assert.Equal(count > 0 ? DeviceType.CUDA : DeviceType.CPU, auto.type);
        if (count == 0)
        {
            var e = Assert.Throws<DeviceUnavailableException>(() => ComputeDevice.Cuda.Resolve());
            Assert.Contains("cuda", e.Message);
            Assert.DoesNotContain("\n", e.Message);
        }
        var past = new ComputeDevice(ComputeDeviceKind.Cuda, count);
        Assert.Throws<DeviceUnavailableException>(() => past.Resolve());
    }

    [Fact]
    public void DefaultDType_IsBFloat16OnCuda_AndTheCheckpointsOnTheCpu()
    {
        Assert.Equal(ScalarType.BFloat16, ComputeDevice.DefaultDType(new Device(DeviceType.CUDA, 0), ScalarType.Float32));
        Assert.Equal(ScalarType.Float32, ComputeDevice.DefaultDType(CPU, ScalarType.Float32));
        Assert.Equal(ScalarType.BFloat16, ComputeDevice.DefaultDType(CPU, ScalarType.BFloat16));
        Assert.Equal("cuda:1", ComputeDevice.Name(new Device(DeviceType.CUDA, 1)));
        Assert.Equal("cpu", ComputeDevice.Name(CPU));
    }

    [Fact]
    public void ReadInto_ConvertsThroughChunks_WithoutAWholeHostCopy()
    {
        using var dir = new TempDir();
        using var source = randn(37, 5).to(ScalarType.BFloat16);
        SafeTensorsFile.Save(dir["t.safetensors"], new List<(string, Tensor)> { ("t", source) });
        using var f = SafeTensorsFile.Open(dir["t.safetensors"]);
        using var expected = source.to(ScalarType.Float32);
        // A chunk of 3 elements: many slices, the last one partial.
        using var dest = zeros(37, 5);
        f.ReadInto("t", dest, chunkBytes: 6);
        Assert.True(dest.eq(expected).all().item<bool>());
        // A non-contiguous destination (a transposed view) still receives the right values.
        using var backing = zeros(5, 37);
        using var view = backing.t();
        f.ReadInto("t", view, chunkBytes: 6);
        Assert.True(view.eq(expected).all().item<bool>());
    }

    [Fact]
    public void LoadModel_PutsWeightsOnTheDeviceInTheDeviceDefaultDType()
    {
        using var dir = new TempDir();
        var spec = CheckpointTestSupport.TinySpec("llada");
        using (var model = CheckpointTestSupport.RandomModel(spec, 3)) Checkpoint.Save(model, dir.Path);
        using var loaded = Checkpoint.LoadModel(dir.Path, device: CPU);
        Assert.Equal(ScalarType.Float32, loaded.DType);
        Assert.Equal(DeviceType.CPU, loaded.Device.type);
        using var bf = Checkpoint.LoadModel(dir.Path, ScalarType.BFloat16, CPU);
        foreach (var (_, p) in bf.NamedWeights()) Assert.Equal(ScalarType.BFloat16, p.dtype);
    }

    [Theory]
    [InlineData(CacheMode.None, false)]
    [InlineData(CacheMode.Dual, false)]
    [InlineData(CacheMode.Prefix, true)]
    [InlineData(CacheMode.Dual, true)]
    public void Decoder_WaitsForTheDeviceOncePerScoredForward(CacheMode cache, bool spiffy)
    {
        using var model = DecodingTestSupport.Model("llada");
        var o = DecodingTestSupport.Options(model.Spec, x => x with { Cache = cache });
        var prompt = DecodingTestSupport.Prompts(1, 5)[0];
        GraphSpeculator? speculator = spiffy
            ? new GraphSpeculator(new DraftGraph(DraftGraph.Chain(3, o.ToSchema(), DraftGraph.TokensPerStep(o))), o.BlockLength) : null;
        var s = new DiffusionDecoder(model).Generate(prompt, o, speculator: speculator).Statistics;
        Assert.True(s.ScoredForwards > 0);
        Assert.Equal(s.ScoredForwards, s.DeviceToHostCopies);
        Assert.Equal(1.0, s.SyncsPerStep);
        // Every step forward and every block-start forward is scored once: nothing else reads the device.
        int blockStarts = cache == CacheMode.None ? 0 : o.NumBlocks;
        Assert.Equal(s.StepForwards + blockStarts, s.ScoredForwards);
    }

    [Fact]
    public void CostCurve_FollowsAFlatThenRisingCurve_AndPicksDStarFromIt()
    {
        // A GPU-like curve: rows are free up to 8, then cost as much as a forward each.
        var samples = new List<(int, double)> { (1, 10), (2, 10), (4, 10), (8, 10.5), (16, 21) };
        var (fixedMs, perRow) = ForwardCostModel.Fit(samples);
        var cost = new ForwardCost("gpu-like", fixedMs, perRow, samples);
        Assert.Equal(10, cost.CurveMs(3), 6);
        Assert.Equal(15.75, cost.CurveMs(12), 6);
        Assert.Equal(21 + 4 * cost.PerRowMs, cost.CurveMs(20), 6);
        // A dip (noise) never makes more rows cheaper than fewer.
        var noisy = new ForwardCost("noisy", 0, 0, new List<(int, double)> { (1, 5), (2, 13), (4, 9) });
        Assert.Equal(13, noisy.CurveMs(3), 6);
        Assert.Equal(5, noisy.CurveMs(0.5), 6);
        // 8 rows per forward cost barely more than one on this curve: D* = 7 wins (a straight line through the samples would not see the knee).
        var graph = DraftGraph.Chain(16, new DecodingOptions().ToSchema(), 1);
        var profile = new EquatableArray<KeepCost>(new[] { new KeepCost(0, 1000, 1000), new KeepCost(7, 400, 3200), new KeepCost(15, 380, 6080) });
        graph = graph with { Provenance = graph.Provenance with { KeepProfile = profile } };
        var choice = KeepChooser.Choose(graph, cost)!;
        Assert.Equal(DraftKeep.Of(7), choice.Keep);
        Assert.True(choice.PredictedSpeedup > 2);
    }

    [Fact]
    public void RowCostBench_MeasuresBothLayouts_OnARandomModel()
    {
        var spec = CheckpointTestSupport.TinySpec("llada") with { MaxSequenceLength = 128 };
        using var model = RowCostBench.RandomModel(spec, ScalarType.Float32, CPU, seed: 1);
        var o = new DecodingOptions { GenLength = 16, BlockLength = 8 };
        var curves = RowCostBench.Measure(model, o, 8, new[] { 1, 2, 4 }, _ => null, repeats: 1);
        Assert.Equal(new[] { "dual-cache", "no-cache" }, curves.Select(c => c.Layout));
        foreach (var c in curves)
        {
            Assert.Equal(new[] { 1, 2, 4 }, c.Cost.Samples.Select(s => s.Rows));
            Assert.All(c.Cost.Samples, s => Assert.True(s.Ms > 0));
            Assert.Equal(1.0, c.Relative().First().Relative);
        }
        Assert.Contains("| 4 |", RowCostBench.ToMarkdown(curves));
    }
}
