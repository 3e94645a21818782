using System.Security.Cryptography;
using Spiffy.Checkpoints;
using Spiffy.Modeling;

namespace Spiffy.Calibration;

/// <summary>The weights hash graph files record (<c>model.weights_sha256</c>), so a graph names the exact weights it was calibrated on.</summary>
internal static class ModelWeights
{
    /// <summary>
    /// SHA-256 (lowercase hex) of the checkpoint's <c>model.safetensors</c>; for a sharded checkpoint,
    /// of its shards' bytes concatenated in shard-name order. Accepts a checkpoint directory or a model
    /// description naming one; "" when the description names no checkpoint.
    /// </summary>
    public static string Sha256(string modelJsonOrCheckpointDir)
    {
        string? dir = CheckpointDirectory(modelJsonOrCheckpointDir);
        if (dir is null) return "";
        string single = Path.Combine(dir, Checkpoint.SingleFileName);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        IReadOnlyList<string> files;
        if (File.Exists(single)) files = new[] { single };
        else { using var ck = Checkpoint.Open(dir); files = ck.Files; }
        foreach (var f in files)
        {
            using var fs = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            int n;
            while ((n = fs.Read(buffer, 0, buffer.Length)) > 0) sha.AppendData(buffer, 0, n);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>The checkpoint directory of a model path, or null when a description names none.</summary>
    public static string? CheckpointDirectory(string modelJsonOrCheckpointDir)
    {
        if (Directory.Exists(modelJsonOrCheckpointDir)) return modelJsonOrCheckpointDir;
        var spec = ModelDescription.Load(modelJsonOrCheckpointDir);
        return spec.Checkpoint.Length == 0 ? null : ModelDescription.ResolveRelative(modelJsonOrCheckpointDir, spec.Checkpoint);
    }

    /// <summary>SHA-256 (lowercase hex) of any file, e.g. the prompt set, for provenance.</summary>
    public static string FileSha256(string path)
    {
        using var fs = Spiffy.Checkpoints.InputFile.OpenRead(path, Spiffy.Checkpoints.InputFile.MaxDataBytes);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }
}
