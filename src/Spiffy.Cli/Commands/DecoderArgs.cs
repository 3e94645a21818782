using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Schema.Models;

namespace Spiffy.Cli.Commands;

/// <summary>The decoder options shared by generate, calibrate and bench.</summary>
internal static class DecoderArgs
{
    public const string Help = """
          --gen-length N        generation length (default: the model's, else 256)
          --block-length N      block length (default: the model's, else 32)
          --steps N             total steps for the schedule rule (default: gen length = one token per step)
          --unmasking R         schedule | threshold | factor | dynamic-top-k (default schedule)
          --threshold X         tau for threshold / dynamic-top-k (default 0.9)
          --factor X            f of the factor rule (default 1.0)
          --k N                 k of dynamic-top-k (default 1)
          --confidence C        probability | random | margin | negative-entropy (default probability)
          --temperature X       0 = greedy (default); > 0 samples with float64 Gumbel noise
          --seed N              noise seed (default 0)
          --cache C             none | prefix | dual (default none; block-causal models use their block cache)
          --schedule S          even | timesteps: tokens per step of the schedule rule (default: the model's; Dream: timesteps)
          --eps X               last timestep of the timesteps schedule (default: the model's, else 0.001)
          --block-start B       step | first-position: what a cache's block-start forward commits (default: the model's; Dream: first-position)
          --early-stop          stop once a finished block ends the text
          --no-trim             keep text after the first end-of-text token
        """;

    public static DecodingOptions Read(Args args, ModelSpec spec, DecodingOptions? baseline = null)
    {
        var b = baseline ?? new DecodingOptions
        {
            GenLength = spec.Defaults.GenLength > 0 ? spec.Defaults.GenLength : 256,
            BlockLength = spec.Attention == AttentionKind.BlockCausal ? spec.AttentionBlockSize : spec.Defaults.BlockLength > 0 ? spec.Defaults.BlockLength : 32,
        };
        // The family's own sampler, as the model file (or the checkpoint's family) names it.
        if (baseline is null) b = b.WithSampler(spec.Defaults);
        int gen = args.Int("gen-length", b.GenLength, 1);
        int steps = args.Int("steps", args.Has("gen-length") ? 0 : b.Steps, 0);
        return b with
        {
            GenLength = gen,
            BlockLength = args.Int("block-length", b.BlockLength, 1),
            Steps = steps,
            Unmasking = args.Enum("unmasking", b.Unmasking),
            Threshold = args.Double("threshold", b.Threshold),
            Factor = args.Double("factor", b.Factor),
            MinTokensPerStep = args.Int("k", b.MinTokensPerStep, 1),
            // The model's default confidence belongs to its schedule; threshold rules compare probabilities with tau
            // (Fast-dLLM's confidence_threshold, Dream's included).
            Confidence = args.Enum("confidence", baseline is null && args.Enum("unmasking", b.Unmasking) != UnmaskingRule.Schedule ? ConfidenceKind.Probability : b.Confidence),
            Temperature = args.Double("temperature", b.Temperature),
            Seed = args.Long("seed", b.Seed),
            Cache = args.Enum("cache", b.Cache),
            Schedule = args.Enum("schedule", b.Schedule),
            Eps = args.Double("eps", b.Eps),
            BlockStart = args.Enum("block-start", b.BlockStart),
            EarlyStop = args.Flag("early-stop") || b.EarlyStop,
            TrimEos = !args.Flag("no-trim") && b.TrimEos,
        };
    }

    /// <summary>True when any decoder option was given explicitly.</summary>
    public static bool AnyGiven(Args args)
    {
        foreach (var name in new[] { "gen-length", "block-length", "steps", "unmasking", "threshold", "factor", "k", "confidence", "temperature", "cache", "schedule", "eps", "block-start" })
            if (args.Has(name)) return true;
        return false;
    }
}
