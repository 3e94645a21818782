using Spiffy.Decoding;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using Spiffy.Tests.Checkpoints;
using TorchSharp;

namespace Spiffy.Tests.Decoding;

/// <summary>Tiny random models and prompts for decoder tests (seconds, not minutes).</summary>
internal static class DecodingTestSupport
{
    public const int Vocab = 50;

    /// <summary>A tiny random model of a family; <paramref name="layers"/> overrides the depth.</summary>
    public static DiffusionTransformer Model(string family, long seed = 7, int layers = 2)
    {
        var spec = CheckpointTestSupport.TinySpec(family, Vocab) with { MaxSequenceLength = 128 };
        if (layers != spec.NumLayers) spec = spec with { NumLayers = layers };
        var model = CheckpointTestSupport.RandomModel(spec, seed);
        model.eval();
        return model;
    }

    /// <summary>Random prompts of the given lengths (ids below the special tokens).</summary>
    public static long[][] Prompts(int count, long seed, int minLength = 3, int maxLength = 9)
    {
        var rng = new Random((int)seed);
        var result = new long[count][];
        for (int i = 0; i < count; i++)
        {
            var p = new long[rng.Next(minLength, maxLength + 1)];
            for (int j = 0; j < p.Length; j++) p[j] = rng.Next(0, Vocab - 3);
            result[i] = p;
        }
        return result;
    }

    /// <summary>
    /// Decoding options sized for tiny models: block 8 (SDAR: its attention block), generation 32, with
    /// the family's own sampler (Dream: timesteps, first-position block start, entropy).
    /// </summary>
    public static DecodingOptions Options(ModelSpec spec, Func<DecodingOptions, DecodingOptions>? tweak = null)
    {
        var o = new DecodingOptions
        {
            GenLength = 32,
            BlockLength = spec.Attention == AttentionKind.BlockCausal ? spec.AttentionBlockSize : 8,
        }.WithSampler(DecodingDefaults.ForFamily(spec.Family, 0, 0, "none"));
        return tweak is null ? o : tweak(o);
    }

    public static int FirstDifference(long[] a, long[] b)
    {
        for (int i = 0; i < Math.Min(a.Length, b.Length); i++) if (a[i] != b[i]) return i;
        return a.Length == b.Length ? -1 : Math.Min(a.Length, b.Length);
    }
}
