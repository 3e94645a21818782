using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;
using Spiffy.Speculation;

namespace Spiffy.Cli.Commands;

/// <summary>Finds a calibrated graph for a model and decoding configuration in the graphs/ folder beside models/.</summary>
internal static class GraphCatalog
{
    /// <summary>Length of the uncalibrated rank-1 chain used when no calibrated graph matches.</summary>
    public const int DefaultChainLength = 4;

    public static GraphSpec? FindFor(string modelPath, ModelSpec model, DecodingOptions options, CliOutput output)
    {
        string? dir = Directory.Exists(modelPath) ? modelPath : Path.GetDirectoryName(Path.GetFullPath(modelPath));
        if (dir is null) return null;
        string graphs = Path.Combine(dir, "..", "graphs");
        if (!Directory.Exists(graphs)) return null;
        foreach (var file in Directory.GetFiles(graphs, "*.json").OrderBy(f => f, StringComparer.Ordinal))
        {
            GraphSpec g;
            try { g = GraphFiles.Load(file); }
            catch (Spiffy.Schema.SchemaException e)
            {
                output.Warn($"skipping invalid graph: {e.Message}");
                continue;
            }
            if (g.ModelName == model.Name && g.Provenance.Calibrated && GraphFiles.Mismatches(g, model, options).Count == 0) return g;
        }
        return null;
    }
}
