using Spiffy.Checkpoints;
using Spiffy.Modeling;
using Spiffy.Schema.Models;

namespace Spiffy.Cli.Commands;

/// <summary>Where the CLI finds models: a description file, a checkpoint directory, or the shipped default.</summary>
internal static class ModelSources
{
    /// <summary>The small GSM8K model the repository ships (used when --model is not given).</summary>
    public const string DefaultModel = "models/gsm8k-small.json";

    public static ModelSpec LoadSpec(string path)
    {
        if (Directory.Exists(path)) { using var checkpoint = Checkpoint.Open(path); return checkpoint.Spec; }
        return ModelDescription.Load(path);
    }

    /// <summary>
    /// Resolves --model: as given, else the shipped model found from the working directory upwards,
    /// else from the program's folder upwards (the installed dotnet tool carries it beside spiffy.dll).
    /// </summary>
    public static string Resolve(string? model)
    {
        if (model is not null) return model;
        foreach (var root in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(root); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, DefaultModel);
                if (File.Exists(candidate)) return candidate;
            }
        }
        throw new FileNotFoundException($"no --model given and the shipped model ({DefaultModel}) was found neither above {Directory.GetCurrentDirectory()} "
            + $"nor above {AppContext.BaseDirectory}; pass --model <model.json | checkpoint dir>");
    }
}
