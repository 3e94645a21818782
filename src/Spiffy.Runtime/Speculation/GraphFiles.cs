using System.Globalization;
using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;

namespace Spiffy.Speculation;

/// <summary>Loads draft graph files on the runtime side and checks them against the model and decoding settings they are served with.</summary>
public static class GraphFiles
{
    /// <summary>Reads and validates a graph file.</summary>
    /// <param name="path">A <c>graphs/*.json</c>.</param>
    /// <exception cref="SchemaException">The file is invalid; every error names its line, column and field.</exception>
    public static GraphSpec Load(string path)
    {
        var bytes = Spiffy.Files.InputFile.ReadAllBytes(path, Spiffy.Files.InputFile.MaxJsonBytes, "draft graph");
        return SchemaException.Require(errors => GraphSpecParser.Parse(bytes, path, errors));
    }

    /// <summary>
    /// Differences between what a graph was calibrated for and how it is about to be served. Any
    /// graph stays lossless; a mismatch only costs acceptance, so these are warnings (errors with --strict).
    /// </summary>
    /// <param name="graph">The graph.</param>
    /// <param name="model">The model it is served with.</param>
    /// <param name="options">The options it is served with.</param>
    /// <param name="modelHash">The served weights' SHA-256, when known.</param>
    public static List<string> Mismatches(GraphSpec graph, ModelSpec model, DecodingOptions options, string? modelHash = null)
    {
        var list = new List<string>();
        var ci = CultureInfo.InvariantCulture;
        if (graph.ModelName.Length > 0 && graph.ModelName != model.Name) list.Add($"calibrated for model '{graph.ModelName}', serving '{model.Name}'");
        if (modelHash is not null && graph.ModelHash.Length > 0 && graph.ModelHash != modelHash)
            list.Add("calibrated for other weights (weights_sha256 differs)");
        var want = options.ToSchema();
        var have = graph.Decoding;
        void Cmp<T>(string what, T a, T b, Func<T, string> show)
        {
            if (!EqualityComparer<T>.Default.Equals(a, b)) list.Add($"{what}: calibrated {show(a)}, serving {show(b)}");
        }
        string Int(int v) => v.ToString(ci);
        string Num(double v) => v.ToString(ci);
        Cmp("gen_length", have.GenLength, want.GenLength, Int);
        Cmp("block_length", have.BlockLength, want.BlockLength, Int);
        Cmp("unmasking", have.Unmasking, want.Unmasking, DecodingNames.Unmasking.Name);
        if (want.Unmasking is UnmaskingRule.Schedule or UnmaskingRule.DynamicTopK or UnmaskingRule.Origin) Cmp("steps", have.Steps, want.Steps, Int);
        if (want.Unmasking is UnmaskingRule.Schedule or UnmaskingRule.Origin) Cmp("schedule", have.Schedule, want.Schedule, DecodingNames.Schedule.Name);
        if (want.Unmasking is UnmaskingRule.Schedule or UnmaskingRule.Origin && want.Schedule == ScheduleKind.Timesteps) Cmp("eps", have.Eps, want.Eps, Num);
        if (want.Cache != CacheMode.None) Cmp("block_start", have.BlockStart, want.BlockStart, DecodingNames.BlockStart.Name);
        if (want.Unmasking is UnmaskingRule.Threshold or UnmaskingRule.DynamicTopK) Cmp("threshold", have.Threshold, want.Threshold, Num);
        if (want.Unmasking == UnmaskingRule.Factor) Cmp("factor", have.Factor, want.Factor, Num);
        Cmp("confidence", have.Confidence, want.Confidence, DecodingNames.Confidence.Name);
        Cmp("temperature", have.Temperature, want.Temperature, Num);
        if (want.Temperature > 0)
        {
            Cmp("sampler", have.Sampler, want.Sampler, DecodingNames.Sampler.Name);
            Cmp("top_k", have.TopK, want.TopK, Int);
            Cmp("top_p", have.TopP, want.TopP, Num);
        }
        Cmp("alg_temp", have.AlgTemp, want.AlgTemp, Num);
        Cmp("overfull_top_k", have.OverfullTopK, want.OverfullTopK, v => v ? "true" : "false");
        Cmp("cache", have.Cache, want.Cache, DecodingNames.Cache.Name);
        if (!graph.Provenance.Calibrated) list.Add("the graph is uncalibrated");
        return list;
    }
}
