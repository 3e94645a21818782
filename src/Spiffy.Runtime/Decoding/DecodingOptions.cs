using System.Globalization;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;

namespace Spiffy.Decoding;

/// <summary>A complete decoding configuration; <see cref="Validate"/> checks it against a model.</summary>
public sealed record DecodingOptions
{
    /// <summary>Generated tokens per sequence.</summary>
    public int GenLength { get; init; } = 256;
    /// <summary>Tokens per block; it must divide <see cref="GenLength"/>.</summary>
    public int BlockLength { get; init; } = 32;
    /// <summary>Total steps over the generation for <see cref="UnmaskingRule.Schedule"/>; 0 = one token per step (steps = gen length).</summary>
    public int Steps { get; init; }
    /// <summary>How <see cref="UnmaskingRule.Schedule"/> counts the tokens of a step.</summary>
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Even;
    /// <summary>eps of <see cref="ScheduleKind.Timesteps"/>: the last timestep (Dream's default 1e-3).</summary>
    public double Eps { get; init; } = GraphDecoding.DefaultEps;
    /// <summary>What a prefix/dual cache's block-start forward commits (no effect without a cache).</summary>
    public BlockStartRule BlockStart { get; init; } = BlockStartRule.Step;
    /// <summary>The score that ranks masked positions.</summary>
    public ConfidenceKind Confidence { get; init; } = ConfidenceKind.Probability;
    /// <summary>How many positions a step commits.</summary>
    public UnmaskingRule Unmasking { get; init; } = UnmaskingRule.Schedule;
    /// <summary>tau of <see cref="UnmaskingRule.Threshold"/> and <see cref="UnmaskingRule.DynamicTopK"/>.</summary>
    public double Threshold { get; init; } = 0.9;
    /// <summary>f of <see cref="UnmaskingRule.Factor"/>.</summary>
    public double Factor { get; init; } = 1.0;
    /// <summary>k of dynamic top-k (<see cref="UnmaskingRule.DynamicTopK"/>): the fewest tokens such a step commits.</summary>
    public int K { get; init; } = 1;
    /// <summary>Sampling temperature; 0 decodes greedily.</summary>
    public double Temperature { get; init; }
    /// <summary>How tokens are drawn when <see cref="Temperature"/> &gt; 0 (the family's authors' sampler by default,
    /// <see cref="DecodingDefaults"/>).</summary>
    public SamplerKind Sampler { get; init; } = SamplerKind.Gumbel;
    /// <summary>Keep only the k most likely tokens before sampling (ties with the k-th kept); 0 = off. Not with <see cref="SamplerKind.Gumbel"/>.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest most-likely set whose probability exceeds p (nucleus); 1 = off. Not with <see cref="SamplerKind.Gumbel"/>.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>
    /// Dream's <c>alg_temp</c>: 0 commits a schedule step's top-k confident positions; &gt; 0 draws them instead with
    /// <c>torch.multinomial(softmax(confidence / alg_temp), k)</c> (without replacement) from the sampler's stream.
    /// Needs <see cref="SamplerKind.MaskedCategorical"/> and <see cref="UnmaskingRule.Schedule"/>.
    /// </summary>
    public double AlgTemp { get; init; }
    /// <summary>
    /// SDAR's <c>torch.topk</c> when a step's share exceeds the masks left (a block the prompt's tail fills in part): the
    /// authors' topk over the block's confidences (-inf where decided) then also picks decided positions, in libtorch's
    /// order, and rewrites them, the prompt's tail included, with the step's prediction. Off: only masked positions are written.
    /// </summary>
    public bool OverfullTopK { get; init; }
    /// <summary>Seed of the sampling noise (step n's noise depends on the seed and n only).</summary>
    public long Seed { get; init; }
    /// <summary>The K/V cache mode.</summary>
    public CacheMode Cache { get; init; } = CacheMode.None;
    /// <summary>Stop once a finished block ends the text (EOS followed only by EOS);
    /// remaining positions become EOS. Off by default (LLaDA decodes every block).</summary>
    public bool EarlyStop { get; init; }
    /// <summary>
    /// SDAR's <c>stopping_criteria_idx</c>: after each block, stop once the generation holds any of these tokens (anywhere);
    /// the positions not decoded become EOS (the authors leave them masked). Empty = off.
    /// </summary>
    public IReadOnlyList<int> StopTokens { get; init; } = Array.Empty<int>();
    /// <summary><see cref="StopTokens"/> as the trace header spells it (ids joined by commas).</summary>
    public string StopTokensText => string.Join(",", StopTokens.Select(t => t.ToString(CultureInfo.InvariantCulture)));
    /// <summary>
    /// Block-causal models only: skip the exact block cache and run a full forward under the
    /// block-causal mask every step (the reference the cache is checked against).
    /// </summary>
    public bool UncachedBlockCausal { get; init; }
    /// <summary>Spiffy without a cache: exact full rows (default) or the near-lossless packed layout.</summary>
    public VerificationLayout Layout { get; init; } = VerificationLayout.Rows;
    /// <summary>Cut the returned text at the first EOS.</summary>
    public bool TrimEos { get; init; } = true;

    /// <summary>The total steps <see cref="Steps"/> stands for (the generation length when 0).</summary>
    public int EffectiveSteps => Steps == 0 ? GenLength : Steps;

    /// <summary>
    /// What a model decodes with when nothing else is given (the one home of this rule): its description's
    /// generation and block length (a block-causal model's attention block), else the record's defaults, and its
    /// family's sampler details.
    /// </summary>
    internal static DecodingOptions ForModel(ModelSpec spec)
    {
        var d = new DecodingOptions();
        return (d with
        {
            GenLength = spec.Defaults.GenLength > 0 ? spec.Defaults.GenLength : d.GenLength,
            BlockLength = spec.Attention == AttentionKind.BlockCausal ? spec.AttentionBlockSize
                : spec.Defaults.BlockLength > 0 ? spec.Defaults.BlockLength : d.BlockLength,
        }).WithSampler(spec.Defaults);
    }

    /// <summary>These options with a family sampler's details as a model file names them (<see cref="DecodingDefaults"/>).</summary>
    public DecodingOptions WithSampler(DecodingDefaults d) => this with
    {
        Schedule = d.Schedule,
        Eps = d.Eps,
        BlockStart = d.BlockStart,
        Confidence = d.Confidence,
        Sampler = d.Sampler,
        OverfullTopK = d.OverfullTopK,
    };

    /// <summary>The options a graph was calibrated with (its <c>decoding</c>), with this seed.</summary>
    public static DecodingOptions FromSchema(GraphDecoding d, long seed = 0) => new DecodingOptions
    {
        GenLength = d.GenLength, BlockLength = d.BlockLength, Steps = d.Steps, Unmasking = d.Unmasking, Confidence = d.Confidence,
        Threshold = d.Threshold, Factor = d.Factor, K = d.K, Temperature = d.Temperature, Cache = d.Cache,
        Schedule = d.Schedule, Eps = d.Eps, BlockStart = d.BlockStart, Sampler = d.Sampler, TopK = d.TopK, TopP = d.TopP, AlgTemp = d.AlgTemp,
        OverfullTopK = d.OverfullTopK, Seed = seed,
    };

    /// <summary>The decoding configuration as graph and trace files record it (steps made explicit).</summary>
    public GraphDecoding ToSchema() => new GraphDecoding(GenLength, BlockLength, EffectiveSteps, Unmasking, Confidence,
        Threshold, Factor, K, Temperature, Cache, Schedule, Eps, BlockStart, Sampler, TopK, TopP, AlgTemp, OverfullTopK);

    /// <summary>Blocks per generation.</summary>
    public int NumBlocks => GenLength / BlockLength;

    /// <summary>Throws <see cref="ArgumentException"/> with a precise message when the options cannot decode with this model.</summary>
    public void Validate(ModelSpec spec, int promptLength)
    {
        var config = ToSchema();
        var errors = new List<DecodingRuleError>();
        DecodingRules.Check(config, errors);
        DecodingRules.CheckAgainstModel(config, spec, errors);
        if (errors.Count > 0) throw new ArgumentException($"{errors[0].Field}: {errors[0].Message}");
        if (promptLength < 1) throw new ArgumentException("the prompt is empty");
        long maxPrompt = DecodingRules.MaxPromptLength(config, spec);
        if (promptLength > maxPrompt)
            throw new ArgumentException($"prompt ({promptLength} tokens) + generation ({GenLength}) = {promptLength + GenLength} tokens exceeds the model's "
                + $"context of {spec.MaxSequenceLength}; shorten the prompt to at most {maxPrompt} tokens");
        foreach (int t in StopTokens)
            if (t < 0 || t >= spec.VocabSize || t == spec.Tokens.Mask)
                throw new ArgumentException($"stop token {t} must be a token of the vocabulary [0, {spec.VocabSize}) other than the mask");
        if (Layout == VerificationLayout.Packed && (Cache != CacheMode.None || spec.Attention == AttentionKind.BlockCausal))
            throw new ArgumentException("the packed verification layout applies to bidirectional models without a cache (cached modes already verify "
                + "block-only rows against the shared context)");
    }

    /// <summary>Every option on one line ("gen=256 block=32 ...").</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"gen={GenLength} block={BlockLength} steps={EffectiveSteps}"
        + $"{(Schedule == ScheduleKind.Timesteps ? $" schedule=timesteps eps={Eps}" : "")}"
        + $"{(BlockStart == BlockStartRule.FirstPosition ? " block_start=first_position" : "")}"
        + $" confidence={Confidence} unmasking={Unmasking} tau={Threshold} factor={Factor} k={K} T={Temperature}"
        + $"{(Sampler != SamplerKind.Gumbel ? $" sampler={DecodingNames.Sampler.Name(Sampler)}" : "")}"
        + $"{(TopK != 0 ? $" top_k={TopK}" : "")}{(TopP != 1 ? $" top_p={TopP}" : "")}{(AlgTemp != 0 ? $" alg_temp={AlgTemp}" : "")}"
        + $"{(StopTokens.Count > 0 ? $" stop_tokens={StopTokensText}" : "")}{(OverfullTopK ? " overfull_top_k" : "")}"
        + $" seed={Seed} cache={Cache}{(Layout == VerificationLayout.Packed ? " layout=packed" : "")}");
}
