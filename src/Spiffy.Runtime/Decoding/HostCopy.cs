using Spiffy.Native;
using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>
/// Copies small device tensors into preallocated host arrays (no per-step array allocation). Every
/// device-to-host read of the decoder goes through here, so <see cref="Count"/> is the number of
/// times the host waited for the device (on the CPU the same copies are plain memory copies; the
/// count is what a GPU would sync).
/// </summary>
internal static class HostCopy
{
    [ThreadStatic] private static long _count;

    /// <summary>Device-to-host copies made on this thread so far.</summary>
    public static long Count => _count;

    /// <summary>Copies <paramref name="t"/> as float64 into <paramref name="dst"/> (its element count), allocating nothing managed.</summary>
    public static void To(NativeTensor t, Span<double> dst)
    {
        _count++;
        using var scope = TensorArena.Open();
        t.To(ScalarType.Float64).Cpu().Contiguous().Data<double>().CopyTo(dst);
    }
}
