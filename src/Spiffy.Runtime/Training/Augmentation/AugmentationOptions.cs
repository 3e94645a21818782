namespace Spiffy.Training.Augmentation;

/// <summary>Settings of numeric perturbation (defaults are the documented ones, docs/training.md).</summary>
internal sealed record AugmentationOptions
{
    /// <summary>Problems at the end of the source file that are held out: never read for variants, never written to the training output.</summary>
    public int HoldOut { get; init; } = 500;
    /// <summary>Most variants kept per problem (the original is always kept besides).</summary>
    public int VariantsPerProblem { get; init; } = 16;
    /// <summary>Re-samplings tried per problem before giving up on reaching <see cref="VariantsPerProblem"/>.</summary>
    public int AttemptsPerProblem { get; init; } = 64;
    public long Seed { get; init; } = 1;
    /// <summary>Largest value any step of a variant's chain may compute.</summary>
    public long MaxValue { get; init; } = 1_000_000;
    /// <summary>A question number is re-sampled in [n / Scale, n * Scale] (in its rounding unit).</summary>
    public int Scale { get; init; } = 2;
    /// <summary>
    /// Rounding units, largest first: a number that is a multiple of one (at least twice over) keeps being a
    /// multiple of it, so "$150" stays a round price and "45 minutes" a multiple of 5.
    /// </summary>
    public IReadOnlyList<int> RoundingUnits { get; init; } = new[] { 100, 10, 5 };
    /// <summary>Numbers below this are kept as written (0 and 1 usually carry meaning, not quantity).</summary>
    public int SmallestPerturbed { get; init; } = 2;
    /// <summary>Percentages stay at or below this.</summary>
    public int PercentCap { get; init; } = 100;
    /// <summary>Four-digit numbers in this range are read as years and kept.</summary>
    public int YearFrom { get; init; } = 1900;
    public int YearTo { get; init; } = 2100;
}
