using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>Copies small device tensors into preallocated host arrays (no per-step array allocation).</summary>
internal static class HostCopy
{
    public static void To(Tensor t, Span<long> dst)
    {
        using var c = t.to(int64).cpu().contiguous();
        MemoryMarshal.Cast<byte, long>(c.bytes).CopyTo(dst);
    }

    public static void To(Tensor t, Span<double> dst)
    {
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
