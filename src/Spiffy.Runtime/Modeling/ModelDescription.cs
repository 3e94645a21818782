using Spiffy.Schema;
using Spiffy.Schema.Models;

namespace Spiffy.Modeling;

/// <summary>Loads model descriptions (<c>models/*.json</c>) on the runtime side.</summary>
internal static class ModelDescription
{
    /// <summary>Reads and validates a model description; throws <see cref="SchemaException"/> naming file, line and field.</summary>
    public static ModelSpec Load(string path)
    {
        var bytes = Spiffy.Files.InputFile.ReadAllBytes(path, Spiffy.Files.InputFile.MaxJsonBytes, "model description");
        // Bytes, so invalid UTF-8 is reported with its line and column instead of silently replaced.
        return SchemaException.Require(errors => ModelSpecParser.Parse(bytes, path, errors));
    }

    public static ModelSpec Parse(string json, string fileName) => SchemaException.Require(errors => ModelSpecParser.Parse(json, fileName, errors));

    /// <summary>Resolves a path named inside a model file (checkpoint, tokenizer) relative to that file.</summary>
    public static string ResolveRelative(string modelFile, string path)
        => Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelFile)) ?? ".", path));
}
