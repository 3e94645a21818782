using System.Globalization;
using Spiffy.Cli.CommandLine;
using Spiffy.Training.Augmentation;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy augment`: numeric-perturbation variants of the training part of a GSM8K-style file.</summary>
public sealed class AugmentCommand : ICommand
{
    public string Help => """
        usage: spiffy augment --data <train.jsonl> --out <augmented.jsonl> [--heldout-out <heldout.jsonl>] [options]

        Writes every training problem (all but the last --holdout) followed by up to --variants copies
        whose question numbers are re-sampled and whose <<expr=result>> calculator chain is recomputed;
        a variant is kept only if each step gives a non-negative integer up to --max-value, divisions
        that were exact stay exact, and the final "#### N" is the last computed value. The held-out
        problems are never used (optionally copied to --heldout-out for `train --eval-data`).
          --holdout N      problems held out at the end of the file (default 500)
          --variants N     most variants per problem (default 16)
          --attempts N     re-samplings tried per problem (default 64)
          --max-value N    largest value a step may compute (default 1000000)
          --seed N         (default 1); the output is a function of the input and the options
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string>();

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        string data = args.Required("data"), output = args.Required("out");
        string? heldOut = args.String("heldout-out");
        var defaults = new AugmentationOptions();
        var options = new AugmentationOptions
        {
            HoldOut = args.Int("holdout", defaults.HoldOut, 0),
            VariantsPerProblem = args.Int("variants", defaults.VariantsPerProblem, 0),
            AttemptsPerProblem = args.Int("attempts", defaults.AttemptsPerProblem, 0),
            MaxValue = args.Long("max-value", defaults.MaxValue),
            Seed = args.Long("seed", defaults.Seed),
        };
        args.EnsureAllUsed(0);
        if (options.MaxValue < 1) throw new UsageException("--max-value must be at least 1");
        var r = GsmAugmenter.Run(data, output, heldOut, options);
        var ci = CultureInfo.InvariantCulture;
        int supported = r.TrainingProblems - r.Unsupported.Values.Sum();
        int variants = r.Written - (r.TrainingProblems - r.Unsupported.GetValueOrDefault(UnsupportedReason.SameAsHeldOut));
        Console.WriteLine(string.Create(ci, $"source: {r.SourceProblems} problems in {data}; variants from the first {r.TrainingProblems}, the last {r.HeldOutProblems} held out"));
        Console.WriteLine(string.Create(ci, $"perturbable: {supported} problems; unsupported: {Join(r.Unsupported)}"));
        Console.WriteLine(string.Create(ci, $"variants: {variants} kept of {r.Attempts} re-samplings ({(double)variants / Math.Max(1, supported):F2} per perturbable problem); rejected: {Join(r.Rejected)}"));
        Console.WriteLine("variants per problem (count: problems): " + string.Join(", ", r.VariantsPerProblemHistogram.Select((n, k) => $"{k}: {n}")));
        Console.WriteLine(string.Create(ci, $"wrote {r.Written} problems (originals and variants) -> {output}"));
        if (heldOut is not null) Console.WriteLine(string.Create(ci, $"wrote the {r.HeldOutProblems} held-out problems -> {heldOut}"));
        return Task.FromResult(0);
    }

    private static string Join<T>(IReadOnlyDictionary<T, int> counts) where T : notnull
        => counts.Count == 0 ? "none" : string.Join(", ", counts.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value}"));
}
