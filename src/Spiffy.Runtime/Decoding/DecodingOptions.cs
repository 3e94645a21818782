using System.Globalization;
using Spiffy.Schema.Models;

namespace Spiffy.Decoding;

/// <summary>How a candidate position's confidence is scored.</summary>
public enum ConfidenceKind
{
    /// <summary>Softmax probability of the chosen token (LLaDA "low_confidence" remasking).</summary>
    Probability,
    /// <summary>A uniform random number per position and step (LLaDA "random" remasking).</summary>
    Random,
    /// <summary>Top-1 minus top-2 probability (Dream).</summary>
    Margin,
    /// <summary>Negative entropy of the position's distribution (Dream).</summary>
    NegativeEntropy,
}

/// <summary>How many candidates a step commits.</summary>
public enum UnmaskingRule
{
    /// <summary>LLaDA schedule: the block's masks split evenly over its steps (k per step; SDAR "static").</summary>
    Schedule,
    /// <summary>Fast-dLLM: the most confident candidate plus every candidate with confidence >= tau.</summary>
    Threshold,
    /// <summary>Fast-dLLM factor rule: the longest confidence-sorted prefix with c_k >= 1 - f / (k + 2).</summary>
    Factor,
    /// <summary>SDAR "dynamic": all candidates strictly above tau if there are at least k of them, else the top k; k is the step's even share of the block (SDAR's denoising steps), at least <see cref="DecodingOptions.MinTokensPerStep"/>.</summary>
    DynamicTopK,
}

/// <summary>How many tokens a step of <see cref="UnmaskingRule.Schedule"/> commits.</summary>
public enum ScheduleKind
{
    /// <summary>LLaDA / SDAR: the block's positions split evenly over its steps, the earlier steps take the remainder (k per step).</summary>
    Even,
    /// <summary>
    /// Dream: timesteps t = linspace(1, eps, steps per block + 1) in float32; step i commits
    /// int(n * (1 - t[i+1] / t[i])) of the n masked positions (possibly none), the last step all that remain.
    /// </summary>
    Timesteps,
}

/// <summary>What the block-start forward of a prefix/dual cache commits.</summary>
public enum BlockStartRule
{
    /// <summary>An ordinary step of the unmasking rule (Fast-dLLM's LLaDA decoders).</summary>
    Step,
    /// <summary>
    /// The block's first position only, whatever its confidence; the schedule then continues at its
    /// second step (Fast-dLLM's Dream block decoder, <c>generation_utils_block.py</c>).
    /// </summary>
    FirstPosition,
}

/// <summary>How a step draws its tokens when the temperature is above 0 (docs/decoding.md).</summary>
public enum SamplerKind
{
    /// <summary>
    /// LLaDA: argmax of exp(logits) / (-log U)^T in float64, U drawn per position from a generator seeded
    /// by (seed, step); confidence from softmax(logits).
    /// </summary>
    Gumbel,
    /// <summary>
    /// Dream: <c>torch.distributions.Categorical(softmax(filtered logits / T)).sample()</c> over the masked
    /// positions (the block-start forward of the first-position block start: over the whole canvas), drawn
    /// from one CPU generator seeded once with the seed, as torch's <c>multinomial</c> draws them
    /// (argmax of p / q, q ~ Exp(1)); confidence from the temperature-scaled, filtered probabilities.
    /// </summary>
    MaskedCategorical,
    /// <summary>
    /// SDAR: <c>torch.multinomial</c> over every position of the block at every step, from one CPU generator
    /// seeded once with the seed; confidence from the temperature-scaled, filtered probabilities.
    /// </summary>
    BlockMultinomial,
}

/// <summary>Which K/V cache the decoder keeps (block-causal models always use their exact block cache).</summary>
public enum CacheMode
{
    /// <summary>Every step is a full forward over the whole sequence.</summary>
    None,
    /// <summary>Fast-dLLM prefix cache: K/V before the block frozen at block start; steps feed the block and everything after it.</summary>
    Prefix,
    /// <summary>Fast-dLLM dual cache: K/V of the whole sequence frozen at block start; steps feed only the block.</summary>
    Dual,
}

/// <summary>How Spiffy lays out the state row and its draft rows in one verification forward without a cache.</summary>
public enum VerificationLayout
{
    /// <summary>1 + D full-sequence rows: each draft is verified exactly as a plain step would compute it (the default).</summary>
    Rows,
    /// <summary>
    /// One packed sequence: the full sequence with the state's block, followed by the D draft blocks at
    /// the block's positions, under a mask that lets each draft block see the context and itself. The
    /// context is computed once, conditioned on the state's block only, so draft distributions are
    /// approximate (near-lossless, opt-in; docs/spiffy.md). The state row itself stays exact.
    /// </summary>
    Packed,
}

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
    public double Eps { get; init; } = 1e-3;
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
    /// <summary>k of <see cref="UnmaskingRule.DynamicTopK"/>.</summary>
    public int MinTokensPerStep { get; init; } = 1;
    /// <summary>Sampling temperature; 0 decodes greedily.</summary>
    public double Temperature { get; init; }
    /// <summary>How tokens are drawn when <see cref="Temperature"/> &gt; 0 (the family's authors' sampler by default, <see cref="DecodingDefaults"/>).</summary>
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
    /// <summary>Stop once a finished block ends the text (EOS followed only by EOS); remaining positions become EOS. Off by default (LLaDA decodes every block).</summary>
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

    /// <summary>These options with a family sampler's details as a model file names them (<see cref="DecodingDefaults"/>).</summary>
    public DecodingOptions WithSampler(DecodingDefaults d) => this with
    {
        Schedule = ParseSchedule(d.Schedule), Eps = d.Eps, BlockStart = ParseBlockStart(d.BlockStart), Confidence = ParseConfidence(d.Confidence),
        Sampler = ParseSampler(d.Sampler), OverfullTopK = d.OverfullTopK,
    };

    /// <summary>The schema's spelling (graph and model files) of each option, read here once.</summary>
    internal static ScheduleKind ParseSchedule(string s) => s == "timesteps" ? ScheduleKind.Timesteps : ScheduleKind.Even;
    /// <summary>The schema's spelling of a block start rule ("first_position"; anything else is "step").</summary>
    internal static BlockStartRule ParseBlockStart(string s) => s == "first_position" ? BlockStartRule.FirstPosition : BlockStartRule.Step;
    /// <summary>The schema's spelling of a sampler ("masked_categorical", "block_multinomial"; anything else is "gumbel").</summary>
    internal static SamplerKind ParseSampler(string s) => s switch
    {
        "masked_categorical" => SamplerKind.MaskedCategorical,
        "block_multinomial" => SamplerKind.BlockMultinomial,
        _ => SamplerKind.Gumbel,
    };
    /// <summary>The schema's spelling of a sampler.</summary>
    internal static string SamplerName(SamplerKind s) => s switch
    {
        SamplerKind.MaskedCategorical => "masked_categorical",
        SamplerKind.BlockMultinomial => "block_multinomial",
        _ => "gumbel",
    };
    /// <summary>The schema's spelling of a confidence kind ("random", "margin", "negative_entropy"; anything else is "probability").</summary>
    internal static ConfidenceKind ParseConfidence(string s) => s switch
    {
        "random" => ConfidenceKind.Random,
        "margin" => ConfidenceKind.Margin,
        "negative_entropy" => ConfidenceKind.NegativeEntropy,
        _ => ConfidenceKind.Probability,
    };
    /// <summary>Blocks per generation.</summary>
    public int NumBlocks => GenLength / BlockLength;

    /// <summary>Throws <see cref="ArgumentException"/> with a precise message when the options cannot decode with this model.</summary>
    public void Validate(ModelSpec spec, int promptLength)
    {
        string Fmt(double d) => d.ToString(CultureInfo.InvariantCulture);
        if (GenLength < 1) throw new ArgumentException($"generation length must be positive (got {GenLength})");
        if (BlockLength < 1 || GenLength % BlockLength != 0) throw new ArgumentException($"block length {BlockLength} must divide the generation length {GenLength}");
        if (Steps < 0 || EffectiveSteps % NumBlocks != 0) throw new ArgumentException($"steps ({EffectiveSteps}) must be a multiple of the number of blocks ({NumBlocks})");
        if (EffectiveSteps > GenLength) throw new ArgumentException($"steps ({EffectiveSteps}) cannot exceed the generation length ({GenLength})");
        if (Schedule == ScheduleKind.Timesteps && !(Eps > 0 && Eps < 1)) throw new ArgumentException($"eps of the timesteps schedule must be in (0, 1) (got {Fmt(Eps)})");
        if (BlockStart == BlockStartRule.FirstPosition && Cache != CacheMode.None)
        {
            // The block-start forward takes the schedule's first step; the authors' loop then runs at least one
            // more forward, which a one-position block or a one-step block would not have (their NFE would differ).
            if (BlockLength < 2) throw new ArgumentException("the first-position block start needs blocks of at least 2 positions");
            if (Unmasking == UnmaskingRule.Schedule && EffectiveSteps / NumBlocks < 2)
                throw new ArgumentException($"the first-position block start needs at least 2 steps per block (got {EffectiveSteps / NumBlocks})");
        }
        if (Unmasking == UnmaskingRule.Threshold || Unmasking == UnmaskingRule.DynamicTopK)
            if (!(Threshold > 0 && Threshold <= 1)) throw new ArgumentException($"threshold tau must be in (0, 1] (got {Fmt(Threshold)})");
        if (Unmasking == UnmaskingRule.Factor && !(Factor > 0)) throw new ArgumentException($"factor must be positive (got {Fmt(Factor)})");
        if (Unmasking == UnmaskingRule.DynamicTopK && (MinTokensPerStep < 1 || MinTokensPerStep > BlockLength))
            throw new ArgumentException($"k of the dynamic rule must be in [1, {BlockLength}] (got {MinTokensPerStep})");
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw new ArgumentException($"temperature must be >= 0 (got {Fmt(Temperature)})");
        if (TopK < 0) throw new ArgumentException($"top-k must be >= 0 (0 = off; got {TopK})");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top-p must be in (0, 1] (1 = off; got {Fmt(TopP)})");
        if (Sampler == SamplerKind.Gumbel && (TopK != 0 || TopP != 1))
            throw new ArgumentException("top-k / top-p filter the distribution of a categorical draw (sampler masked_categorical or block_multinomial); LLaDA's Gumbel sampler has none");
        // The draws of a step advance one random stream by (rows drawn) x vocabulary; Spiffy verifies a draft's step with the
        // stream where the plain decoder would be, which needs the rows drawn at a step to follow from the step alone.
        if (Sampler == SamplerKind.MaskedCategorical && Temperature > 0 && Unmasking != UnmaskingRule.Schedule)
            throw new ArgumentException("the masked_categorical sampler draws over the masked positions, whose count under a threshold, factor or dynamic rule depends on earlier draws; use unmasking schedule, or the gumbel or block_multinomial sampler");
        if (!(AlgTemp >= 0) || double.IsInfinity(AlgTemp)) throw new ArgumentException($"alg_temp must be >= 0 (got {Fmt(AlgTemp)})");
        if (AlgTemp > 0 && (Sampler != SamplerKind.MaskedCategorical || Unmasking != UnmaskingRule.Schedule))
            throw new ArgumentException("alg_temp draws which positions a schedule step commits (Dream's sampler): it needs the masked_categorical sampler and unmasking schedule");
        foreach (int t in StopTokens)
            if (t < 0 || t >= spec.VocabSize || t == spec.Tokens.Mask)
                throw new ArgumentException($"stop token {t} must be a token of the vocabulary [0, {spec.VocabSize}) other than the mask");
        if (promptLength < 1) throw new ArgumentException("the prompt is empty");
        int total = promptLength + GenLength + (spec.Attention == AttentionKind.BlockCausal ? spec.AttentionBlockSize : 0);
        if (total > spec.MaxSequenceLength)
            throw new ArgumentException($"prompt ({promptLength} tokens) + generation ({GenLength}) = {promptLength + GenLength} tokens exceeds the model's context of {spec.MaxSequenceLength}; shorten the prompt to at most {spec.MaxSequenceLength - GenLength - (total - promptLength - GenLength)} tokens");
        if (Layout == VerificationLayout.Packed && (Cache != CacheMode.None || spec.Attention == AttentionKind.BlockCausal))
            throw new ArgumentException("the packed verification layout applies to bidirectional models without a cache (cached modes already verify block-only rows against the shared context)");
        if (spec.Attention == AttentionKind.BlockCausal)
        {
            if (BlockLength != spec.AttentionBlockSize) throw new ArgumentException($"a block-causal model decodes in its attention blocks: block length must be {spec.AttentionBlockSize} (got {BlockLength})");
            if (Cache != CacheMode.None) throw new ArgumentException("block-causal models always use their exact block cache; do not set a prefix or dual cache");
        }
    }

    /// <summary>Every option on one line ("gen=256 block=32 ...").</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"gen={GenLength} block={BlockLength} steps={EffectiveSteps}{(Schedule == ScheduleKind.Timesteps ? $" schedule=timesteps eps={Eps}" : "")}{(BlockStart == BlockStartRule.FirstPosition ? " block_start=first_position" : "")} confidence={Confidence} unmasking={Unmasking} tau={Threshold} factor={Factor} k={MinTokensPerStep} T={Temperature}{(Sampler != SamplerKind.Gumbel ? $" sampler={SamplerName(Sampler)}" : "")}{(TopK != 0 ? $" top_k={TopK}" : "")}{(TopP != 1 ? $" top_p={TopP}" : "")}{(AlgTemp != 0 ? $" alg_temp={AlgTemp}" : "")}{(StopTokens.Count > 0 ? $" stop_tokens={StopTokensText}" : "")}{(OverfullTopK ? " overfull_top_k" : "")} seed={Seed} cache={Cache}{(Layout == VerificationLayout.Packed ? " layout=packed" : "")}");
}
