using System.Runtime.InteropServices;
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

    public static void To(Tensor t, Span<long> dst)
    {
        _count++;
        using var c = t.to(int64).cpu().contiguous();
        MemoryMarshal.Cast<byte, long>(c.bytes).CopyTo(dst);
    }

    public static void To(Tensor t, Span<double> dst)
    {
        _count++;
        using var c = t.to(float64).cpu().contiguous();
        MemoryMarshal.Cast<byte, double>(c.bytes).CopyTo(dst);
    }

    public static void From(ReadOnlySpan<long> src, Tensor dst)
    {
        if (dst.device_type == TorchSharp.DeviceType.CPU && dst.dtype == ScalarType.Int64 && dst.is_contiguous())
        {
            src.CopyTo(MemoryMarshal.Cast<byte, long>(dst.bytes));
            return;
        }
        using var tmp = zeros(dst.shape, int64);
        src.CopyTo(MemoryMarshal.Cast<byte, long>(tmp.bytes));
        dst.copy_(tmp);
    }
}
