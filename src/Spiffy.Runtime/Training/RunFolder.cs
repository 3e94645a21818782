using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Spiffy.Files;
using Spiffy.Checkpoints;

namespace Spiffy.Training;

/// <summary>What a training run saves at a step besides the weights.</summary>
internal sealed class TrainerState
{
    public int Step { get; set; }
    /// <summary>Null when no validation ran at that step (or it gave no finite loss).</summary>
    public double? ValidationLoss { get; set; }
    public string Options { get; set; } = "";
    /// <summary>SHA-256 (lowercase hex) of every file of the step folder; null in run folders written before issue 15.</summary>
    public Dictionary<string, string>? Files { get; set; }
}

/// <summary>Where a resumed run starts: the step, and the folder holding its weights and optimizer state.</summary>
internal sealed record ResumePoint(int Step, double? ValidationLoss, string ModelDirectory, string? OptimizerPath);

/// <summary>
/// A training run's folder, consistent after a kill at any instant. Each save writes a whole step
/// into a new folder <c>checkpoint-NNNNNNN</c> (config.json, model.safetensors, optimizer.bin, then
/// trainer_state.json with the hashes of the others), and only then switches the one-line pointer
/// file <c>latest</c> to it with an atomic rename. A kill before the switch leaves the previous step
/// live (the partial folder is removed on the next start); a kill after it, the new one. The run
/// folder's own config.json and model.safetensors are a copy of the latest step, so the folder
/// stays a loadable checkpoint (<c>spiffy generate --model runs/x</c>); resume never reads them.
/// Run folders written before this layout (state, weights and optimizer in the folder itself)
/// still resume when their weights and state agree on the step, and are refused with a message when not.
/// </summary>
internal sealed class RunFolder
{
    public const string PointerFileName = "latest";
    public const string StateFileName = "trainer_state.json";
    public const string OptimizerFileName = "optimizer.bin";
    private const string StepPrefix = "checkpoint-";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public RunFolder(string directory) => Directory = Path.GetFullPath(directory);

    public string Directory { get; }

    private string PointerPath => Path.Combine(Directory, PointerFileName);

    /// <summary>The folder name a step is saved in.</summary>
    public static string StepFolderName(int step) => StepPrefix + step.ToString("D7", CultureInfo.InvariantCulture);

    /// <summary>
    /// Removes what killed writers left behind: step folders the pointer does not name (a save that
    /// never switched) and stale temporary files of atomic writes.
    /// </summary>
    public void CleanUp()
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        string? live = ReadPointer();
        foreach (var dir in System.IO.Directory.GetDirectories(Directory, StepPrefix + "*"))
            if (!string.Equals(Path.GetFileName(dir), live, StringComparison.Ordinal)) System.IO.Directory.Delete(dir, recursive: true);
        AtomicFile.RemoveStaleTemporaries(Directory);
    }

    /// <summary>
    /// The step to resume from, verified; null when the folder holds no checkpoint. Throws
    /// <see cref="InvalidDataException"/> naming the file when the folder is inconsistent.
    /// </summary>
    public ResumePoint? FindResume()
    {
        if (ReadPointer() is string live)
        {
            string stepDir = Path.Combine(Directory, live);
            string statePath = Path.Combine(stepDir, StateFileName);
            var state = ReadState(statePath);
            if (state.Files is null || state.Files.Count == 0)
                throw new InvalidDataException($"{statePath}: lists no file hashes, so the step cannot be verified");
            foreach (var (file, hash) in state.Files)
            {
                if (file.Contains('/') || file.Contains('\\') || file is "." or "..")
                    throw new InvalidDataException($"{statePath}: file name \"{file}\" is not a plain name");
                string path = Path.Combine(stepDir, file);
                if (!File.Exists(path)) throw Mixed(statePath, $"{file} is missing");
                if (!string.Equals(Sha256(path), hash, StringComparison.Ordinal))
                    throw Mixed(statePath, $"{file} does not match the hash recorded for step {state.Step}");
            }
            string opt = Path.Combine(stepDir, OptimizerFileName);
            return new ResumePoint(state.Step, state.ValidationLoss, stepDir, File.Exists(opt) ? opt : null);
        }
        return FindLegacyResume();
    }

    // Today's earlier layout: everything in the run folder itself, the state written last. A kill
    // between the weights and the state leaves them a step apart; the weights' "step" metadata tells.
    private ResumePoint? FindLegacyResume()
    {
        string statePath = Path.Combine(Directory, StateFileName);
        if (!File.Exists(statePath)) return null;
        var state = ReadState(statePath);
        string weights = Path.Combine(Directory, Checkpoint.SingleFileName);
        if (File.Exists(weights))
        {
            using var f = SafeTensorsFile.Open(weights);
            if (f.Metadata.TryGetValue("step", out var s) && s != state.Step.ToString(CultureInfo.InvariantCulture))
                throw new InvalidDataException($"{Directory}: {Checkpoint.SingleFileName} holds step {s} but {StateFileName} step {state.Step}: " +
                    "a save was interrupted (run folder written before consistent checkpoints), and resuming would mix two steps. " +
                    "Continue from the weights alone by copying config.json, model.safetensors and tokenizer.json to a new --out folder and training "
                        + "from there, or start a new run");
        }
        string opt = Path.Combine(Directory, OptimizerFileName);
        return new ResumePoint(state.Step, state.ValidationLoss, Directory, File.Exists(opt) ? opt : null);
    }

    private static InvalidDataException Mixed(string statePath, string what)
        => new($"{statePath}: {what}; the step folder was changed after it was saved. Refusing to resume from a mixed checkpoint: " +
               $"restore the folder, or delete the run's '{PointerFileName}' file and step folders to start over");

    private static TrainerState ReadState(string path)
    {
        string text = InputFile.ReadAllText(path, InputFile.MaxJsonBytes, "trainer state");
        try { return JsonSerializer.Deserialize<TrainerState>(text) ?? throw new InvalidDataException($"{path}: empty trainer state"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a trainer state: {e.Message}"); }
    }

    private string? ReadPointer()
    {
        if (!File.Exists(PointerPath)) return null;
        string name = InputFile.ReadAllText(PointerPath, InputFile.MaxJsonBytes, "checkpoint pointer").Trim();
        if (!name.StartsWith(StepPrefix, StringComparison.Ordinal) || name.IndexOfAny(['/', '\\']) >= 0
            || !int.TryParse(name.AsSpan(StepPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            throw new InvalidDataException($"{PointerPath}: names \"{name}\", not a step folder ({StepPrefix}NNNNNNN)");
        if (!System.IO.Directory.Exists(Path.Combine(Directory, name))) throw new InvalidDataException($"{PointerPath}: step folder {name} does not exist");
        return name;
    }

    /// <summary>
    /// Saves a step: <paramref name="writeModel"/> writes config.json and model.safetensors into the
    /// folder it is given, <paramref name="writeOptimizer"/> the optimizer state to the path it is given.
    /// The step becomes live only when everything is written; then the older step folders are removed
    /// and the run folder's copy of the weights is refreshed.
    /// </summary>
    public void Save(int step, double? validationLoss, string options, Action<string> writeModel, Action<string> writeOptimizer)
    {
        System.IO.Directory.CreateDirectory(Directory);
        string name = StepFolderName(step), stepDir = Path.Combine(Directory, name);
        if (string.Equals(ReadPointer(), name, StringComparison.Ordinal)) return; // this step is saved already
        if (System.IO.Directory.Exists(stepDir)) System.IO.Directory.Delete(stepDir, recursive: true); // a partial earlier try
        System.IO.Directory.CreateDirectory(stepDir);
        writeModel(stepDir);
        string opt = Path.Combine(stepDir, OptimizerFileName);
        writeOptimizer(opt);
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in System.IO.Directory.GetFiles(stepDir))
            if (!Path.GetFileName(path).StartsWith('.')) files[Path.GetFileName(path)] = Sha256(path);
        var state = new TrainerState
        {
            Step = step,
            ValidationLoss = validationLoss is double v && double.IsFinite(v) ? v : null, // JSON has no NaN or infinity
            Options = options,
            Files = new Dictionary<string, string>(files, StringComparer.Ordinal),
        };
        AtomicFile.WriteAllText(Path.Combine(stepDir, StateFileName), JsonSerializer.Serialize(state, Json));
        AtomicFile.WriteAllText(PointerPath, name + "\n"); // the switch
        // Everything below only tidies up: a kill here leaves a consistent folder.
        foreach (var dir in System.IO.Directory.GetDirectories(Directory, StepPrefix + "*"))
            if (!string.Equals(Path.GetFileName(dir), name, StringComparison.Ordinal)) System.IO.Directory.Delete(dir, recursive: true);
        foreach (var legacy in new[] { StateFileName, OptimizerFileName })
        {
            string p = Path.Combine(Directory, legacy);
            if (File.Exists(p)) File.Delete(p); // state of the earlier layout: now stale, and resume no longer reads it
        }
        foreach (var export in new[] { Checkpoint.ConfigFileName, Checkpoint.SingleFileName })
        {
            string from = Path.Combine(stepDir, export);
            AtomicFile.Write(Path.Combine(Directory, export), fs => { using var src = File.OpenRead(from); src.CopyTo(fs); });
        }
    }

    private static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
