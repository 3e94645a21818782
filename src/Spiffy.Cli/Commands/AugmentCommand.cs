using System.CommandLine;
using System.Globalization;
using Spiffy.Cli.CommandLine;
using Spiffy.Training.Augmentation;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy augment`: numeric-perturbation variants of the training part of a GSM8K-style file.</summary>
public sealed class AugmentCommand : IVerb
{
    private static readonly AugmentationOptions Defaults = new();
    private readonly Option<string> _data = new("--data")
    {
        Description = "source problems (JSONL, question/answer); the last --holdout are held out", HelpName = "train.jsonl", Required = true
    };
    private readonly Option<string> _out = new("--out")
    {
        Description = "augmented training file: each training problem followed by its variants (atomic)", HelpName = "FILE", Required = true
    };
    private readonly Option<string?> _heldOut = new("--heldout-out")
    {
        Description = "also write the held-out problems, unchanged, here (for `train --eval-data`, `eval --data`)", HelpName = "FILE"
    };
    private readonly Option<int?> _holdout = SharedOptions.AtLeast(new Option<int?>("--holdout")
    {
        Description = $"problems held out at the end of the file (default {Defaults.HoldOut})", HelpName = "N"
    }, 0);
    private readonly Option<int?> _variants = SharedOptions.AtLeast(new Option<int?>("--variants")
    {
        Description = $"most variants per problem (default {Defaults.VariantsPerProblem})", HelpName = "N"
    }, 0);
    private readonly Option<int?> _attempts = SharedOptions.AtLeast(new Option<int?>("--attempts")
    {
        Description = $"re-samplings tried per problem (default {Defaults.AttemptsPerProblem})", HelpName = "N"
    }, 0);
    private readonly Option<long?> _maxValue = new("--max-value")
    {
        Description = $"largest value a calculator step may compute (default {Defaults.MaxValue})", HelpName = "N"
    };
    private readonly Option<long?> _seed = new("--seed")
    {
        Description = $"seed (default {Defaults.Seed}); the output is a function of the input and the options", HelpName = "N"
    };

    public AugmentCommand()
    {
        Command = new VerbCommand("augment",
            "numeric-perturbation variants of GSM8K training problems (the held-out part never used)",
            "Write every training problem (all but the last --holdout) followed by up to --variants copies whose question numbers "
            + "are re-sampled and whose <<expr=result>> calculator chain is recomputed; a variant is kept only if each step gives a "
            + "non-negative integer up to --max-value, divisions that were exact stay exact, no rewritten number is ambiguous, and "
            + "the final \"#### N\" is the last computed value. The held-out problems are never read for variants (docs/training.md).",
            "spiffy augment --data train.jsonl --out aug.jsonl --heldout-out heldout.jsonl",
            "spiffy augment --data train.jsonl --out aug.jsonl --variants 4 --seed 2 --json")
        { _data, _out, _heldOut, _holdout, _variants, _attempts, _maxValue, _seed };
        Command.Validators.Add(r =>
        {
            if (r.GetValue(_maxValue) is long v && v < 1) r.AddError($"--max-value must be at least 1, got {v}");
        });
    }

    public VerbCommand Command { get; }

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        string data = parse.GetValue(_data)!, outPath = parse.GetValue(_out)!;
        string? heldOut = parse.GetValue(_heldOut);
        var options = new AugmentationOptions
        {
            HoldOut = parse.GetValue(_holdout) ?? Defaults.HoldOut,
            VariantsPerProblem = parse.GetValue(_variants) ?? Defaults.VariantsPerProblem,
            AttemptsPerProblem = parse.GetValue(_attempts) ?? Defaults.AttemptsPerProblem,
            MaxValue = parse.GetValue(_maxValue) ?? Defaults.MaxValue,
            Seed = parse.GetValue(_seed) ?? Defaults.Seed,
        };
        var r = output.Busy("augmenting", () => GsmAugmenter.Run(data, outPath, heldOut, options));
        int supported = r.TrainingProblems - r.Unsupported.Values.Sum();
        int originals = r.TrainingProblems - r.Unsupported.GetValueOrDefault(UnsupportedReason.SameAsHeldOut);
        int variants = r.Written - originals;
        if (output.Json)
        {
            CliOutput.WriteJson(w =>
            {
                w.WriteString("out", outPath);
                if (heldOut is null) w.WriteNull("heldout_out"); else w.WriteString("heldout_out", heldOut);
                w.WriteNumber("source_problems", r.SourceProblems);
                w.WriteNumber("training_problems", r.TrainingProblems);
                w.WriteNumber("held_out_problems", r.HeldOutProblems);
                w.WriteNumber("perturbable_problems", supported);
                w.WriteNumber("variants", variants);
                w.WriteNumber("resamplings", r.Attempts);
                w.WriteNumber("written", r.Written);
                w.WriteStartObject("unsupported");
                foreach (var kv in r.Unsupported) w.WriteNumber(SharedOptions.Kebab(kv.Key).Replace('-', '_'), kv.Value);
                w.WriteEndObject();
                w.WriteStartObject("rejected");
                foreach (var kv in r.Rejected) w.WriteNumber(SharedOptions.Kebab(kv.Key).Replace('-', '_'), kv.Value);
                w.WriteEndObject();
                JsonFields.Numbers(w, "variants_per_problem", r.VariantsPerProblemHistogram);
            });
            return Task.FromResult(0);
        }
        var ci = CultureInfo.InvariantCulture;
        output.Result(string.Create(ci,
            $"source: {r.SourceProblems} problems in {data}; variants from the first {r.TrainingProblems}, the last {r.HeldOutProblems} held out"));
        output.Result(string.Create(ci, $"perturbable: {supported} problems; unsupported: {Join(r.Unsupported)}"));
        output.Result(string.Create(ci,
            $"variants: {variants} kept of {r.Attempts} re-samplings ({(double)variants / Math.Max(1, supported):F2} per perturbable problem); "
            + $"rejected: {Join(r.Rejected)}"));
        output.Result("variants per problem (count: problems): " + string.Join(", ", r.VariantsPerProblemHistogram.Select((n, k) => $"{k}: {n}")));
        output.Result(string.Create(ci, $"wrote {r.Written} problems (originals and variants) -> {outPath}"));
        if (heldOut is not null) output.Result(string.Create(ci, $"wrote the {r.HeldOutProblems} held-out problems -> {heldOut}"));
        return Task.FromResult(0);
    }

    private static string Join<T>(IReadOnlyDictionary<T, int> counts) where T : struct, Enum
        => counts.Count == 0 ? "none" : string.Join(", ", counts.OrderByDescending(kv => kv.Value).Select(kv => $"{SharedOptions.Kebab(kv.Key)} {kv.Value}"));
}
