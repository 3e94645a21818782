using static TorchSharp.torch;

namespace Spiffy.Modeling;

/// <summary>RMSNorm as the three families define it: float32 statistics, cast back before the weight multiply (Qwen style), no bias.</summary>
internal static class RmsNorm
{
    public static Tensor Apply(Tensor x, Tensor weight, double eps)
    {
        var dtype = x.dtype;
        var xf = x.to(float32);
        var normed = xf.mul(xf.square().mean(new long[] { -1 }, keepdim: true).add(eps).rsqrt());
        return normed.to(dtype).mul(weight);
    }
}
