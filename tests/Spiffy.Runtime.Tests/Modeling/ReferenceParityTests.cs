using Spiffy.Caching;
using Spiffy.Checkpoints;
using Spiffy.Modeling;
using Spiffy.Tests.Checkpoints;
using TorchSharp;
using static Spiffy.Tests.Checkpoints.CheckpointTestSupport;
using static TorchSharp.torch;

namespace Spiffy.Tests.Modeling;

/// <summary>
/// The C# transformer against logits from tests/reference/reference_forward.py, an independent
/// plain-PyTorch reading of the families' conventions (docs/checkpoints.md lists what they pin).
/// </summary>
public class ReferenceParityTests
{
    private const double Tolerance = 1e-4;

    private static string VectorDir(string family) => Path.Combine(RepoRoot, "tests", "reference", "vectors", family);

    private sealed class Vector : IDisposable
    {
        public Vector(string family, ScalarType dtype = ScalarType.Float32)
        {
            using var ck = Checkpoint.Open(VectorDir(family));
            Model = ck.CreateModel(dtype);
            using var io = SafeTensorsFile.Open(Path.Combine(VectorDir(family), "io.safetensors"));
            Ids = io.Read("input_ids");
            Logits = io.Read("logits");
        }

        public DiffusionTransformer Model { get; }
        public Tensor Ids { get; }
        public Tensor Logits { get; }

        public void Dispose()
        {
            Model.Dispose();
            Ids.Dispose();
            Logits.Dispose();
        }
    }

    [Theory]
    [InlineData("llada")]
    [InlineData("dream")]
    [InlineData("sdar")]
    public void FullForward_MatchesReferenceLogits(string family)
    {
        using var v = new Vector(family);
        Assert.Equal(new long[] { 2, 12 }, v.Ids.shape);
        using var logits = FullForward(v.Model, v.Ids);
        Assert.Equal(v.Logits.shape, logits.shape);
        double diff = MaxAbsDiff(logits, v.Logits);
        Assert.True(diff <= Tolerance, $"{family}: max |logits - reference| = {diff:E3}");
    }

    [Fact]
    public void Vectors_AreSensitiveToTheConventionsTheyPin()
    {
        // Dream: the model's logits are unshifted; the shifted ones must not match.
        using (var v = new Vector("dream"))
        using (var logits = FullForward(v.Model, v.Ids))
        using (var shifted = cat(new[] { logits.narrow(1, 0, 1), logits.narrow(1, 0, 11) }, 1))
            Assert.True(MaxAbsDiff(shifted, v.Logits) > 0.5);
        // SDAR: without the block-causal mask the logits differ.
        using (var v = new Vector("sdar"))
        using (var _ = no_grad())
        using (var bidir = v.Model.Forward(ForwardRequest.Full(v.Ids, Positions(0, 12))))
            Assert.True(MaxAbsDiff(bidir, v.Logits) > 0.5);
        // RoPE is relative: shifting every position leaves the logits alone, reversing the order does not.
        using (var v = new Vector("llada"))
        using (var _ = no_grad())
        using (var shiftedPos = v.Model.Forward(ForwardRequest.Full(v.Ids, Positions(5, 12))))
        using (var reversedPos = v.Model.Forward(ForwardRequest.Full(v.Ids, Positions(0, 12).flip(1))))
        {
            Assert.True(MaxAbsDiff(shiftedPos, v.Logits) <= 1e-3);
            Assert.True(MaxAbsDiff(reversedPos, v.Logits) > 0.1);
        }
    }

    [Theory]
    [InlineData("llada")]
    [InlineData("dream")]
    [InlineData("sdar")]
    public void CSharpWriter_ReproducesTheReferenceFilesByteForByte(string family)
    {
        using var dir = new TempDir();
        foreach (var file in new[] { "model.safetensors", "io.safetensors" })
        {
            string src = Path.Combine(VectorDir(family), file);
            var tensors = new List<(string, Tensor)>();
            Dictionary<string, string> meta;
            using (var f = SafeTensorsFile.Open(src))
            {
                foreach (var n in f.Names) tensors.Add((n, f.Read(n)));
                meta = new Dictionary<string, string>(f.Metadata);
            }
            SafeTensorsFile.Save(dir[file], tensors, meta);
            Assert.Equal(File.ReadAllBytes(src), File.ReadAllBytes(dir[file]));
            foreach (var (_, t) in tensors) t.Dispose();
        }
    }

    [Fact]
    public void DtypesFromTheReferenceWriter_ReadAsExpected()
    {
        using var f = SafeTensorsFile.Open(Path.Combine(RepoRoot, "tests", "reference", "vectors", "dtypes.safetensors"));
        using var values = arange(-8, 8, dtype: ScalarType.Float64).div(4).view(4, 4);
        foreach (var (name, dtype) in new[]
        {
            ("f64", ScalarType.Float64), ("f32", ScalarType.Float32), ("f16", ScalarType.Float16), ("bf16", ScalarType.BFloat16)
        })
        {
            Assert.Equal(dtype, f.Info(name).ScalarType);
            using var asF32 = f.Read(name, ScalarType.Float32);
            Assert.True(asF32.to(ScalarType.Float64).eq(values).all().item<bool>(), name);
        }
        using var i64 = f.Read("i64");
        Assert.True(i64.eq(arange(-8, 8, dtype: ScalarType.Int64).mul(1_000_003).view(4, 4)).all().item<bool>());
        using var i32 = f.Read("i32");
        Assert.True(i32.eq(arange(-8, 8, dtype: ScalarType.Int32).mul(1003).view(4, 4)).all().item<bool>());
        using var u8 = f.Read("u8");
        Assert.True(u8.to(ScalarType.Int64).eq(arange(0, 16, dtype: ScalarType.Int64).mul(16).add(1).view(4, 4)).all().item<bool>());
        using var b = f.Read("bool");
        Assert.True(b.eq(arange(0, 16).remainder(3).eq(0).view(4, 4)).all().item<bool>());
    }

    /// <summary>Writes all 12 positions' K/V into <paramref name="cache"/> while computing full logits.</summary>
    private static Tensor Prefill(DiffusionTransformer model, Tensor ids, KvCache cache)
    {
        int t = (int)ids.shape[1];
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.Forward(new ForwardRequest
        {
            Tokens = ids, Positions = Positions(0, t), SelfMask = MaskFor(model.Spec, t), Cache = cache, WriteStart = 0, LogitLength = -1,
        });
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>Rows at positions 8..11 attending to cache slots 0..7 plus their own keys (the last SDAR block is one block, so no self mask).</summary>
    private static Tensor Tail(DiffusionTransformer model, Tensor rows, KvCache cache)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.Forward(new ForwardRequest
        {
            Tokens = rows, Positions = Positions(8, 4), Cache = cache, ContextLength = 8, WriteStart = -1, LogitLength = -1,
        });
        return logits.MoveToOuterDisposeScope();
    }

    [Theory]
    [InlineData("llada")]
    [InlineData("dream")]
    [InlineData("sdar")]
    public void CachedContext_MatchesTheFullForward(string family)
    {
        using var v = new Vector(family);
        using var cache = new KvCache(v.Model.Spec, batch: 2, capacity: 12, ScalarType.Float32, CPU);
        using var full = Prefill(v.Model, v.Ids, cache);
        Assert.True(MaxAbsDiff(full, v.Logits) <= Tolerance);
        // The context is slots 0..7; the rows' own tokens (8..11) are not in it but are their own keys.
        using var rows = v.Ids.narrow(1, 8, 4);
        using var tail = Tail(v.Model, rows, cache);
        using var fullTail = full.narrow(1, 8, 4);
        double diff = MaxAbsDiff(tail, fullTail);
        Assert.True(diff <= Tolerance, $"{family}: cached tail vs full forward: {diff:E3}");
    }

    [Theory]
    [InlineData("llada")]
    [InlineData("dream")]
    [InlineData("sdar")]
    public void RowsSharingOneContext_MatchRunningEachAlone(string family)
    {
        using var v = new Vector(family);
        using var cache = new KvCache(v.Model.Spec, batch: 1, capacity: 12, ScalarType.Float32, CPU);
        using var seq0 = v.Ids.narrow(0, 0, 1);
        using var full = Prefill(v.Model, seq0, cache);
        using var others = Tokens(2, 4, v.Model.Spec.VocabSize, seed: 21);
        using var rows = cat(new[] { seq0.narrow(1, 8, 4), others }, 0); // [3, 4]
        using var together = Tail(v.Model, rows, cache);
        for (int r = 0; r < 3; r++)
        {
            using var alone = Tail(v.Model, rows.narrow(0, r, 1), cache);
            using var mine = together.narrow(0, r, 1);
            double diff = MaxAbsDiff(mine, alone);
            Assert.True(diff <= 1e-5, $"{family}: row {r} shared vs alone: {diff:E3}");
        }
        // Row 0 is the original continuation, so it also reproduces the full forward.
        using var row0 = together.narrow(0, 0, 1);
        using var fullTail = full.narrow(1, 8, 4);
        Assert.True(MaxAbsDiff(row0, fullTail) <= Tolerance);
    }

    [Theory]
    [InlineData("llada")]
    [InlineData("dream")]
    [InlineData("sdar")]
    public void Bfloat16Forward_IsCloseToFloat32(string family)
    {
        using var v = new Vector(family, ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, v.Model.DType);
        using var logits = FullForward(v.Model, v.Ids);
        Assert.Equal(ScalarType.Float32, logits.dtype);
        // bf16 keeps ~3 significant digits; over two layers the logits (|x| up to ~8) move by a few
        // hundredths. Loose bounds, but far below what a wrong convention does (> 0.5, see above).
        double max = MaxAbsDiff(logits, v.Logits);
        using var meanT = logits.sub(v.Logits).abs().mean();
        double mean = meanT.item<float>();
        Assert.True(max <= 0.25 && mean <= 0.05, $"{family}: bf16 vs fp32 reference: max {max:F4}, mean {mean:F4}");
        using var agree = logits.argmax(-1).eq(v.Logits.argmax(-1)).to(ScalarType.Float32).mean();
        Assert.True(agree.item<float>() >= 0.9, $"{family}: bf16 argmax agrees on {agree.item<float>():P0} of positions");
    }
}
