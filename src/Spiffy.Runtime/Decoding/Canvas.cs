using Spiffy.Schema.Models;

namespace Spiffy.Decoding;

/// <summary>
/// Where a generation lies in the sequence the decoder builds: the prompt region the first block
/// starts after, and the whole canvas length. One rule for the decoder and for anything that must
/// time or size the decoder's own forwards (the forward-cost measurement).
/// </summary>
internal static class Canvas
{
    /// <summary>
    /// (region, length) for a prompt of <paramref name="promptLength"/> tokens. Bidirectional models: the
    /// prompt, then <paramref name="genLength"/> positions. SDAR (JetAstra/SDAR generate.py): the prompt
    /// stays at position 0, only its whole attention blocks are the prefix, the block holding its tail is
    /// decoded together with the first masks, and the canvas is rounded up to whole blocks (so a few more
    /// than <paramref name="genLength"/> positions are generated).
    /// </summary>
    public static (int Region, int Length) For(ModelSpec spec, int promptLength, int genLength)
    {
        if (spec.Attention != AttentionKind.BlockCausal) return (promptLength, promptLength + genLength);
        int a = spec.AttentionBlockSize;
        return (promptLength / a * a, (promptLength + genLength + a - 1) / a * a);
    }
}
