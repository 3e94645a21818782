using System;
using System.Collections.Generic;
using System.Globalization;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;

namespace Spiffy.Schema.Decoding;

/// <summary>A broken decoding rule: the field it is reported at (graph-file spelling, "block_length"), its kind and a sentence.</summary>
internal sealed record DecodingRuleError(string Field, SchemaErrorKind Kind, string Message);

/// <summary>
/// The decoding configuration's rules, in one place: value ranges and cross-field rules of a
/// <see cref="GraphDecoding"/> alone (<see cref="Check"/>), and the rules that need the model
/// (<see cref="CheckAgainstModel"/>). The graph and model parsers report them at the offending
/// field, the generator as SPF diagnostics, and <c>DecodingOptions.Validate</c> throws the first.
/// </summary>
internal static class DecodingRules
{
    // Each field's own range, once: Check reports them under the file's field name, the CLI under its flag's name.
    public static readonly FieldRange GenLength = new("gen_length", "generation length", "at least 1", v => v >= 1);
    public static readonly FieldRange BlockLength = new("block_length", "block length", "at least 1", v => v >= 1);
    public static readonly FieldRange Steps = new("steps", "steps", "at least 0", v => v >= 0, "0: one token per step");
    public static readonly FieldRange Eps = new("eps", "eps", "in (0, 1)", v => v > 0 && v < 1, "the timesteps run from 1 down to eps");
    public static readonly FieldRange Threshold = new("threshold", "threshold tau", "in (0, 1]", v => v > 0 && v <= 1);
    public static readonly FieldRange Factor = new("factor", "factor", "positive and finite", v => v > 0 && !double.IsInfinity(v));
    public static readonly FieldRange K = new("k", "k", "at least 1", v => v >= 1);
    public static readonly FieldRange Temperature = new("temperature", "temperature", "at least 0 and finite", v => v >= 0 && !double.IsInfinity(v));
    public static readonly FieldRange TopK = new("top_k", "top_k", "at least 0", v => v >= 0, "0 = off");
    public static readonly FieldRange TopP = new("top_p", "top_p", "in (0, 1]", v => v > 0 && v <= 1, "1 = off");
    public static readonly FieldRange AlgTemp = new("alg_temp", "alg_temp", "at least 0 and finite", v => v >= 0 && !double.IsInfinity(v));

    /// <summary>Total steps of a configuration: <see cref="GraphDecoding.Steps"/>, or one token per step when it is 0.</summary>
    public static int EffectiveSteps(GraphDecoding d) => d.Steps == 0 ? d.GenLength : d.Steps;

    /// <summary>The rules of the configuration alone, in field order; each broken rule once.</summary>
    public static void Check(GraphDecoding d, List<DecodingRuleError> errors)
    {
        void Add(string field, SchemaErrorKind kind, string message) => errors.Add(new DecodingRuleError(field, kind, message));
        bool InRange(FieldRange range, double value)
        {
            if (range.Violation(value) is not string violation) return true;
            Add(range.Field, SchemaErrorKind.InvalidValue, range.Subject + " " + violation);
            return false;
        }
        InRange(GenLength, d.GenLength);
        if (InRange(BlockLength, d.BlockLength) && d.GenLength >= 1 && d.GenLength % d.BlockLength != 0)
            Add("block_length", SchemaErrorKind.ContradictoryValues,
                $"block length {Inv(d.BlockLength)} does not divide the generation length {Inv(d.GenLength)}");
        if (InRange(Steps, d.Steps) && d.GenLength >= 1 && d.BlockLength >= 1 && d.GenLength % d.BlockLength == 0)
        {
            int blocks = d.GenLength / d.BlockLength, steps = EffectiveSteps(d);
            if (steps % blocks != 0 || steps > d.GenLength)
                Add("steps", SchemaErrorKind.ContradictoryValues,
                    $"{Inv(steps)} steps must be a multiple of the {Inv(blocks)} blocks and at most the generation length {Inv(d.GenLength)}");
            // The block-start forward takes the schedule's first step; the authors' loop then runs at least one
            // more forward, which a one-position block or a one-step block would not have (their NFE would differ).
            else if (d.BlockStart == BlockStartRule.FirstPosition && d.Cache != CacheMode.None
                && (d.BlockLength < 2 || (d.Unmasking is UnmaskingRule.Schedule or UnmaskingRule.Origin && steps / blocks < 2)))
                Add("block_start", SchemaErrorKind.ContradictoryValues,
                    "the first_position block start needs blocks of at least 2 positions and at least 2 steps per block");
        }
        InRange(Eps, d.Eps);
        InRange(Threshold, d.Threshold);
        InRange(Factor, d.Factor);
        if (InRange(K, d.K) && d.Unmasking == UnmaskingRule.DynamicTopK && d.BlockLength >= 1 && d.K > d.BlockLength)
            Add("k", SchemaErrorKind.ContradictoryValues, $"k = {Inv(d.K)} exceeds the block length {Inv(d.BlockLength)}");
        InRange(Temperature, d.Temperature);
        InRange(TopK, d.TopK);
        if (InRange(TopP, d.TopP) && d.Sampler == SamplerKind.Gumbel && (d.TopK != 0 || d.TopP != 1))
            Add(d.TopK != 0 ? "top_k" : "top_p", SchemaErrorKind.ContradictoryValues,
                "top-k / top-p filter the distribution of a categorical draw (sampler masked_categorical or block_multinomial); "
                    + "LLaDA's gumbel sampler has none");
        // The draws of a step advance one random stream by (rows drawn) x vocabulary; Spiffy verifies a draft's step with the
        // stream where the plain decoder would be, which needs the rows drawn at a step to follow from the step alone.
        if (d.Sampler == SamplerKind.MaskedCategorical && d.Temperature > 0 && d.Unmasking != UnmaskingRule.Schedule)
            Add("sampler", SchemaErrorKind.ContradictoryValues,
                "the masked_categorical sampler draws over the masked positions, whose count under a threshold, factor or dynamic rule depends on earlier "
                    + "draws; use unmasking schedule, or the gumbel or block_multinomial sampler");
        if (d.Unmasking == UnmaskingRule.Origin && d.Schedule != ScheduleKind.Timesteps)
            Add("unmasking", SchemaErrorKind.ContradictoryValues,
                "the origin rule commits each masked position with probability 1 - s/t of Dream's timesteps: it needs schedule timesteps");
        if (InRange(AlgTemp, d.AlgTemp) && d.AlgTemp > 0 && (d.Sampler != SamplerKind.MaskedCategorical || d.Unmasking != UnmaskingRule.Schedule))
            Add("alg_temp", SchemaErrorKind.ContradictoryValues,
                "alg_temp draws which positions a schedule step commits (Dream's sampler): it needs the masked_categorical sampler and unmasking schedule");
    }

    /// <summary>Positions of the context a generation takes besides the prompt: the generated tokens, and a block-causal model's extra block.</summary>
    public static long ReservedPositions(GraphDecoding d, ModelSpec model)
        => (long)d.GenLength + (model.Attention == AttentionKind.BlockCausal ? model.AttentionBlockSize : 0);

    /// <summary>The longest prompt this configuration leaves room for in the model's context.</summary>
    public static long MaxPromptLength(GraphDecoding d, ModelSpec model) => model.MaxSequenceLength - ReservedPositions(d, model);

    /// <summary>The rules that need the model: block-causal models decode in their attention blocks with their own cache, and a prompt must fit.</summary>
    public static void CheckAgainstModel(GraphDecoding d, ModelSpec model, List<DecodingRuleError> errors)
    {
        if (model.Attention == AttentionKind.BlockCausal)
        {
            if (d.BlockLength != model.AttentionBlockSize)
                errors.Add(new DecodingRuleError("block_length", SchemaErrorKind.ContradictoryValues,
                    $"block length {Inv(d.BlockLength)} differs from the attention block size {Inv(model.AttentionBlockSize)} of block-causal model "
                        + $"'{model.Name}', which decodes in its attention blocks"));
            if (d.Cache != CacheMode.None)
                errors.Add(new DecodingRuleError("cache", SchemaErrorKind.ContradictoryValues,
                    $"block-causal model '{model.Name}' always uses its exact block cache, not a \"{DecodingNames.Cache.Name(d.Cache)}\" cache"));
        }
        if (MaxPromptLength(d, model) < 1)
            errors.Add(new DecodingRuleError("gen_length", SchemaErrorKind.ContradictoryValues,
                $"generation length {Inv(d.GenLength)} leaves no room for a prompt in the {Inv(model.MaxSequenceLength)}-token "
                    + $"context of model '{model.Name}'"));
    }

    private static string Inv(long v) => v.ToString(CultureInfo.InvariantCulture);
    private static string Inv(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>
/// One decoding field's own range, no other field involved: its file spelling, how a message names it, the allowed
/// values in words and the test. <see cref="DecodingRules.Check"/> reports a violation under <see cref="Field"/>
/// ("top_p must be in (0, 1] (1 = off; got 2)"); the CLI puts its flag's name before <see cref="Violation"/>.
/// </summary>
internal sealed class FieldRange
{
    private readonly Func<double, bool> _holds;
    private readonly string _note;

    public FieldRange(string field, string subject, string range, Func<double, bool> holds, string note = "")
    {
        Field = field;
        Subject = subject;
        Range = range;
        _holds = holds;
        _note = note.Length > 0 ? note + "; " : "";
    }

    /// <summary>The field's name in graph and model files ("top_p").</summary>
    public string Field { get; }

    /// <summary>How a message names the value ("threshold tau").</summary>
    public string Subject { get; }

    /// <summary>The allowed values in words ("in (0, 1]").</summary>
    public string Range { get; }

    /// <summary>Whether <paramref name="value"/> is allowed (NaN never is).</summary>
    public bool Holds(double value) => _holds(value);

    /// <summary>Null when <paramref name="value"/> is allowed, else what follows the value's name: "must be in (0, 1] (1 = off; got 2)".</summary>
    public string? Violation(double value)
        => Holds(value) ? null : $"must be {Range} ({_note}got {value.ToString("R", CultureInfo.InvariantCulture)})";
}
