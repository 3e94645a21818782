using System.Reflection;
using System.Runtime.InteropServices;
using Spiffy.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Tests.Native;

/// <summary>The native-op layer: same results as TorchSharp's methods, errors as exceptions, no managed allocation.</summary>
public sealed class NativeTensorTests
{
    [Fact]
    public void Operations_MatchTorchSharp_BitForBit()
    {
        var x = randn(new long[] { 3, 4, 8 }, generator: new Generator(5));
        var w = randn(new long[] { 6, 8 }, generator: new Generator(6));
        var expected = nn.functional.linear(x, w).softmax(-1).mul(2.5).add(x.narrow(2, 0, 6)).square().mean(new long[] { -1 }, keepdim: true);
        Tensor actual;
        using (var scope = TensorArena.Open())
        {
            var scale = NativeScalar.Of(2.5);
            var n = NativeTensor.Linear(NativeTensor.Of(x), NativeTensor.Of(w)).Softmax(-1).Mul(scale)
                .Add(NativeTensor.Of(x).Narrow(2, 0, 6)).Square().Mean(-1, keepdim: true);
            actual = scope.Return(n).ToTorchSharp();
        }
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.equal(actual).all().item<bool>(), "the native result differs from TorchSharp's");
        var (values, indices) = x.topk(3, -1);
        using (var scope = TensorArena.Open())
        {
            var (v, i) = NativeTensor.Of(x).TopK(3);
            Assert.True(values.equal(scope.Return(v).ToTorchSharp()).all().item<bool>());
            Assert.True(indices.equal(i.Clone().ToTorchSharp()).all().item<bool>());
        }
    }

    [Fact]
    public void LibtorchError_IsAnException_AndTheArenaStaysUsable()
    {
        var a = zeros(2, 3);
        var b = zeros(4, 5);
        using (TensorArena.Open())
        {
            var e = Assert.Throws<System.Runtime.InteropServices.ExternalException>(() => NativeTensor.Of(a).Add(NativeTensor.Of(b)));
            Assert.Contains("must match the size", e.Message);
            var m = Assert.Throws<ArgumentException>(() => NativeTensor.Of(a).MatMul(NativeTensor.Of(b)));
            Assert.Contains("Float32 [2, 3]", m.Message);
            Assert.Equal(2, NativeTensor.Of(a).MatMul(NativeTensor.Of(a).Transpose(0, 1)).Size(1));
        }
        Assert.Throws<InvalidOperationException>(() => NativeTensor.Of(a).Neg());
    }

    [Fact]
    public void ScopesFreeWhatTheyMade_AndReturnOneTensorOutward()
    {
        var x = ones(4, 4);
        var arena = TensorArena.Current;
        int before = arena.Live;
        using (var outer = TensorArena.Open())
        {
            NativeTensor kept;
            using (var inner = TensorArena.Open())
            {
                var t = NativeTensor.Of(x).Mul(NativeScalar.Two).Add(NativeTensor.Of(x));
                kept = inner.Return(t.Neg());
            }
            Assert.Equal(before + 1, arena.Live);
            Assert.Equal(-3f, kept.Data<float>()[0]);
        }
        Assert.Equal(before, arena.Live);
    }

    [Fact]
    public void ManyOperations_AllocateNoManagedMemory()
    {
        var x = randn(new long[] { 2, 8, 16 });
        var w = randn(new long[] { 16, 16 });
        var eps = NativeScalar.Of(1e-6);
        void Step()
        {
            using var scope = TensorArena.Open();
            var h = NativeTensor.Of(x);
            var n = NativeTensor.Linear(h, NativeTensor.Of(w)).Silu();
            n = n.Mul(n.Square().Mean(-1, keepdim: true).Add(eps).Rsqrt());
            var c = NativeTensor.Cat([n, h], -1).Reshape(2, 8, 2, 16).Transpose(1, 2).Softmax(-1);
            var (v, i) = c.TopK(2);
            _ = v.Sum(-1).Add(i.To(ScalarType.Float32).Sum(-1)).ArgMax(-1).Size(0);
        }
        for (int i = 0; i < 3; i++) Step(); // warm-up: JIT, the arena's array, the topk buffer
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++) Step();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>
    /// Every export the native layer declares binds in the shim TorchSharp loaded, so a TorchSharp upgrade (or a shim rebuilt
    /// against another libtorch, gpu/device.sh) that drops or renames one fails here, not in the middle of a generation.
    /// </summary>
    [Fact]
    public void EveryDeclaredExport_BindsInTheLoadedShim()
    {
        using var warm = zeros(1); // TorchSharp loads libtorch and its shim first, as every real caller has
        LibTorch.EnsureLoaded();
        var imports = typeof(LibTorch).GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Where(m => m.GetCustomAttribute<DllImportAttribute>() is not null).ToList();
        Assert.True(imports.Count > 50, $"only {imports.Count} declared exports found");
        var missing = new List<string>();
        foreach (var m in imports)
        {
            try { Marshal.Prelink(m); }
            catch (EntryPointNotFoundException) { missing.Add(m.Name); }
        }
        Assert.Empty(missing);
    }
}
