using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using Spiffy.Tests.Checkpoints;
using static TorchSharp.torch;

namespace Spiffy.Tests.Calibration;

/// <summary>Tiny random models (hidden 32, 2 layers, vocab 50), prompts and recording helpers for the calibration tests.</summary>
internal static class CalibrationTestSupport
{
    public const int Vocab = 50;

    public static DiffusionTransformer Model(string family, long seed = 11)
    {
        var spec = CheckpointTestSupport.TinySpec(family, Vocab) with { MaxSequenceLength = 96 };
        var model = CheckpointTestSupport.RandomModel(spec, seed);
        // The output row of the mask token is zeroed so a random model never "commits" the mask id
        // (which would leave the position masked and the block undecodable).
        using (no_grad())
        {
            var head = model.NamedWeights().TryGetValue("lm_head", out var h) ? h : model.NamedWeights()["embed"];
            head[spec.Tokens.Mask].zero_();
        }
        model.eval();
        return model;
    }

    public static long[][] Prompts(int count, int seed)
    {
        var rng = new Random(seed);
        var result = new long[count][];
        for (int i = 0; i < count; i++)
        {
            var p = new long[rng.Next(4, 10)];
            for (int j = 0; j < p.Length; j++) p[j] = rng.Next(0, Vocab - 3);
            result[i] = p;
        }
        return result;
    }

    /// <summary>Generation 32, block 8 (SDAR: its attention block of 4), one token per step unless configured otherwise.</summary>
    public static DecodingOptions Options(ModelSpec spec, string kind)
    {
        // The family's own sampler (Dream: timesteps, first-position block start, entropy).
        var o = new DecodingOptions { GenLength = 32, BlockLength = spec.Attention == AttentionKind.BlockCausal ? spec.AttentionBlockSize : 8 }
            .WithSampler(DecodingDefaults.ForFamily(spec.Family, 0, 0, "none"));
        return kind switch
        {
            "schedule" => o,
            "schedule-2" => o with { Steps = 16 },
            "threshold" => o with { Unmasking = UnmaskingRule.Threshold, Threshold = 0.3 },
            "prefix" => o with { Cache = CacheMode.Prefix },
            "dual-threshold" => o with
            {
                Cache = CacheMode.Dual,
                Unmasking = UnmaskingRule.Threshold,
                Threshold = 0.3,
                Confidence = ConfidenceKind.Probability,
            },
            "sampled" => o with { Temperature = 0.8, Seed = 5 },
            "dynamic" => o with { Unmasking = UnmaskingRule.DynamicTopK, Threshold = 0.3, K = 1 },
            _ => throw new ArgumentException(kind),
        };
    }

    /// <summary>Records each prompt alone (the rows a Spiffy run's root repeats).</summary>
    public static TraceSet Record(DiffusionTransformer model, IReadOnlyList<long[]> prompts, DecodingOptions o, int positionRanks, int tokenRanks)
    {
        var header = TraceRecorder.HeaderFor(o, model.Spec.Tokens.Mask, positionRanks, tokenRanks, model.Spec.Name, "", "test", 0);
        var recorder = new TraceRecorder(header);
        var decoder = new DiffusionDecoder(model);
        var sequences = new List<SequenceTrace>();
        for (int i = 0; i < prompts.Count; i++) sequences.AddRange(recorder.Record(decoder, new[] { prompts[i] }, o, i));
        return new TraceSet(header, sequences);
    }

    /// <summary>A fresh temp file path (deleted by the caller's TempDir).</summary>
    public static string TempFile(Spiffy.Tests.Checkpoints.TempDir dir, string name) => dir[name];
}
