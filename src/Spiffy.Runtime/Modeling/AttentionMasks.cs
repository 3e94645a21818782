using static TorchSharp.torch;

namespace Spiffy.Modeling;

/// <summary>Boolean attention masks (true = attend) in the shapes <see cref="ForwardRequest"/> takes.</summary>
internal static class AttentionMasks
{
    /// <summary>SDAR's block-causal structure, [1, 1, L, L]: query i sees key j iff j / size &lt;= i / size.</summary>
    public static Tensor BlockCausal(int size, int length, Device device)
    {
        var idx = arange(length, int64, device).div(size, rounding_mode: RoundingMode.floor);
        return idx.unsqueeze(0).le(idx.unsqueeze(1)).unsqueeze(0).unsqueeze(0);
    }
}
