using System;
using System.Collections.Generic;
using Spiffy.Decoding;

namespace Spiffy.Schema.Decoding;

/// <summary>The spelling of one enum's values in graph and model files, CLI flags and JSON output.</summary>
internal sealed class EnumSpelling<T> where T : struct, Enum
{
    private readonly T[] _values;
    private readonly string[] _names;

    public EnumSpelling(params (T Value, string Name)[] entries)
    {
        _values = new T[entries.Length];
        _names = new string[entries.Length];
        for (int i = 0; i < entries.Length; i++) { _values[i] = entries[i].Value; _names[i] = entries[i].Name; }
    }

    /// <summary>Every spelling, in declaration order (for messages and help texts).</summary>
    public IReadOnlyList<string> Names => _names;

    public string Name(T value)
    {
        for (int i = 0; i < _values.Length; i++)
            if (EqualityComparer<T>.Default.Equals(_values[i], value)) return _names[i];
        // Every value is spelled: an unspelled one is a bug in this table, not an input error.
        throw new ArgumentOutOfRangeException(nameof(value), value, $"{typeof(T).Name} has no file spelling");
    }

    public bool TryParse(string name, out T value)
    {
        for (int i = 0; i < _names.Length; i++)
            if (_names[i] == name) { value = _values[i]; return true; }
        value = default;
        return false;
    }

    /// <summary>The value a name spells; <see cref="ArgumentException"/> naming the accepted spellings otherwise.</summary>
    public T Parse(string name)
        => TryParse(name, out var value) ? value : throw new ArgumentException($"\"{name}\" is not one of: {string.Join(", ", _names)}");
}

/// <summary>
/// The one map between the decoding enums and their spelling ("dynamic_top_k", "first_position"),
/// used by the graph and model parsers, the graph and trace writers, the CLI and its JSON output.
/// </summary>
internal static class DecodingNames
{
    public static readonly EnumSpelling<UnmaskingRule> Unmasking = new EnumSpelling<UnmaskingRule>(
        (UnmaskingRule.Schedule, "schedule"), (UnmaskingRule.Threshold, "threshold"), (UnmaskingRule.Factor, "factor"),
            (UnmaskingRule.DynamicTopK, "dynamic_top_k"), (UnmaskingRule.Origin, "origin"));

    public static readonly EnumSpelling<ConfidenceKind> Confidence = new EnumSpelling<ConfidenceKind>(
        (ConfidenceKind.Probability, "probability"), (ConfidenceKind.Random, "random"), (ConfidenceKind.Margin, "margin"),
            (ConfidenceKind.NegativeEntropy, "negative_entropy"));

    public static readonly EnumSpelling<CacheMode> Cache = new EnumSpelling<CacheMode>(
        (CacheMode.None, "none"), (CacheMode.Prefix, "prefix"), (CacheMode.Dual, "dual"));

    public static readonly EnumSpelling<ScheduleKind> Schedule = new EnumSpelling<ScheduleKind>(
        (ScheduleKind.Even, "even"), (ScheduleKind.Timesteps, "timesteps"));

    public static readonly EnumSpelling<BlockStartRule> BlockStart = new EnumSpelling<BlockStartRule>(
        (BlockStartRule.Step, "step"), (BlockStartRule.FirstPosition, "first_position"));

    public static readonly EnumSpelling<SamplerKind> Sampler = new EnumSpelling<SamplerKind>(
        (SamplerKind.Gumbel, "gumbel"), (SamplerKind.MaskedCategorical, "masked_categorical"), (SamplerKind.BlockMultinomial, "block_multinomial"));

    public static readonly EnumSpelling<VerificationLayout> Layout = new EnumSpelling<VerificationLayout>(
        (VerificationLayout.Rows, "rows"), (VerificationLayout.Packed, "packed"));
}
