// The decoding vocabulary lives in the schema (compiled into both the generator and the runtime),
// so graph files, model files, the generator's checks and DecodingOptions share one set of values.
// It keeps the public namespace Spiffy.Decoding, where a library user finds DecodingOptions.
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
    /// <summary>SDAR "dynamic": all candidates strictly above tau if there are at least k of them, else the top k; k is the step's even share of the block
    /// (SDAR's denoising steps), at least the configured minimum.</summary>
    DynamicTopK,
    /// <summary>
    /// Dream's alg "origin": each masked position is committed independently with probability 1 - s/t (the
    /// <see cref="ScheduleKind.Timesteps"/> t, s of the step; every one at the block's last step), whatever its
    /// confidence. The uniforms come from the generator of (seed, step), so Spiffy stays lossless.
    /// </summary>
    Origin,
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
