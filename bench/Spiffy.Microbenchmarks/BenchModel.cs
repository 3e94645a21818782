using Spiffy.Checkpoints;
using Spiffy.Modeling;
using static TorchSharp.torch;

namespace Spiffy.Microbenchmarks;

/// <summary>
/// The model every benchmark runs: the shipped gsm8k-small checkpoint when it is there, otherwise a
/// randomly initialized transformer of the same architecture (forward cost does not depend on the
/// weights; acceptance in the generation benchmarks does, so the console says which one ran).
/// </summary>
public static class BenchModel
{
    public const string ModelFile = "models/gsm8k-small.json";

    /// <summary>A GSM8K-style question for the generation benchmarks (the trained model answers it sensibly).</summary>
    public const string Question = "A farmer has 12 cows and buys 7 more. Each cow gives 3 liters of milk a day. How many liters does he get in a day?";

    /// <summary>The repository root: the first folder above the working directory or the binaries holding models/gsm8k-small.json.</summary>
    public static string RepoRoot { get; } = FindRoot();

    public static string ModelJson => Path.Combine(RepoRoot, ModelFile);

    /// <summary>Loads the model in eval mode; <paramref name="trained"/> tells whether real weights were found.</summary>
    public static SpiffyModel Load(out bool trained)
    {
        var spec = ModelDescription.Load(ModelJson);
        string checkpoint = spec.Checkpoint.Length == 0 ? "" : ModelDescription.ResolveRelative(ModelJson, spec.Checkpoint);
        trained = checkpoint.Length > 0 && File.Exists(Path.Combine(checkpoint, Checkpoint.ConfigFileName));
        if (trained) return SpiffyModel.Load(ModelJson);
        var model = new DiffusionTransformer(spec, float32);
        model.InitializeRandom(seed: 0);
        model.eval();
        return SpiffyModel.FromTransformer(model);
    }

    /// <summary>One line for the log: which weights, how many torch threads (results depend on both).</summary>
    public static string Describe(SpiffyModel model, bool trained)
        => $"model {model.Spec.Name} ({(trained ? "trained checkpoint" : "random weights: no checkpoint found")}), torch threads {get_num_threads()}";

    private static string FindRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = start; dir is not null; dir = Path.GetDirectoryName(dir))
                if (File.Exists(Path.Combine(dir, ModelFile))) return dir;
        throw new FileNotFoundException($"{ModelFile} not found above {Directory.GetCurrentDirectory()} "
            + $"or {AppContext.BaseDirectory}; run from the repository");
    }
}
