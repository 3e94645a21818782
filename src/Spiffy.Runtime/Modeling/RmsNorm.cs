using Spiffy.Native;
using static TorchSharp.torch;

namespace Spiffy.Modeling;

/// <summary>RMSNorm as the three families define it: float32 statistics, cast back before the weight multiply (Qwen style), no bias.</summary>
internal static class RmsNorm
{
    /// <param name="eps">The model's epsilon as a double scalar (made once by the caller).</param>
    public static NativeTensor Apply(NativeTensor x, NativeTensor weight, NativeScalar eps)
    {
        var dtype = x.DType;
        var xf = x.To(ScalarType.Float32);
        var normed = xf.Mul(xf.Square().Mean(-1, keepdim: true).Add(eps).Rsqrt());
        return normed.To(dtype).Mul(weight);
    }
}
