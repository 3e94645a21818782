using System.Globalization;
using Spiffy.Decoding;
using Spiffy.Schema;
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
        var errors = new List<SchemaError>();
        var spec = GraphSpecParser.Parse(bytes, path, errors);
        if (spec is null || errors.Count > 0) throw new SchemaException(errors);
        return spec;
    }

    /// <summary>The decoding configuration a graph was calibrated with, as decoder options.</summary>
    /// <param name="d">The graph's <c>decoding</c>.</param>
    /// <param name="seed">The sampling seed (graphs do not fix one).</param>
    public static DecodingOptions ToOptions(GraphDecoding d, long seed = 0) => new DecodingOptions
    {
        GenLength = d.GenLength,
        BlockLength = d.BlockLength,
        Steps = d.Steps,
        Unmasking = d.Unmasking switch
        {
            "threshold" => UnmaskingRule.Threshold,
            "factor" => UnmaskingRule.Factor,
            "dynamic_top_k" => UnmaskingRule.DynamicTopK,
            "origin" => UnmaskingRule.Origin,
            _ => UnmaskingRule.Schedule,
        },
        Confidence = DecodingOptions.ParseConfidence(d.Confidence),
        Threshold = d.Threshold,
        Factor = d.Factor,
        MinTokensPerStep = d.K,
        Temperature = d.Temperature,
        Cache = d.Cache switch { "prefix" => CacheMode.Prefix, "dual" => CacheMode.Dual, _ => CacheMode.None },
        Schedule = DecodingOptions.ParseSchedule(d.Schedule),
        Eps = d.Eps,
        BlockStart = DecodingOptions.ParseBlockStart(d.BlockStart),
        Sampler = DecodingOptions.ParseSampler(d.Sampler),
        TopK = d.TopK,
        TopP = d.TopP,
        AlgTemp = d.AlgTemp,
        OverfullTopK = d.OverfullTopK,
        Seed = seed,
    };

    /// <summary>Decoder options in the graph file's spelling (what a calibrated graph records).</summary>
    /// <param name="o">The options.</param>
    public static GraphDecoding FromOptions(DecodingOptions o) => new GraphDecoding(o.GenLength, o.BlockLength, o.EffectiveSteps,
        o.Unmasking switch
        {
            UnmaskingRule.Threshold => "threshold",
            UnmaskingRule.Factor => "factor",
            UnmaskingRule.DynamicTopK => "dynamic_top_k",
            UnmaskingRule.Origin => "origin",
            _ => "schedule",
        },
        o.Confidence switch
        {
            ConfidenceKind.Random => "random",
            ConfidenceKind.Margin => "margin",
            ConfidenceKind.NegativeEntropy => "negative_entropy",
            _ => "probability",
        },
        o.Threshold, o.Factor, o.MinTokensPerStep, o.Temperature,
        o.Cache switch { CacheMode.Prefix => "prefix", CacheMode.Dual => "dual", _ => "none" },
        o.Schedule == ScheduleKind.Timesteps ? "timesteps" : GraphDecoding.EvenSchedule, o.Eps,
        o.BlockStart == BlockStartRule.FirstPosition ? "first_position" : GraphDecoding.StepBlockStart,
        DecodingOptions.SamplerName(o.Sampler), o.TopK, o.TopP, o.AlgTemp, o.OverfullTopK);

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
        if (modelHash is not null && graph.ModelHash.Length > 0 && graph.ModelHash != modelHash) list.Add("calibrated for other weights (weights_sha256 differs)");
        var want = FromOptions(options);
        var have = graph.Decoding;
        void Cmp<T>(string what, T a, T b) { if (!EqualityComparer<T>.Default.Equals(a, b)) list.Add(string.Format(ci, "{0}: calibrated {1}, serving {2}", what, a, b)); }
        Cmp("gen_length", have.GenLength, want.GenLength);
        Cmp("block_length", have.BlockLength, want.BlockLength);
        Cmp("unmasking", have.Unmasking, want.Unmasking);
        if (want.Unmasking is "schedule" or "dynamic_top_k" or "origin") Cmp("steps", have.Steps, want.Steps);
        if (want.Unmasking is "schedule" or "origin") Cmp("schedule", have.Schedule, want.Schedule);
        if (want.Unmasking is "schedule" or "origin" && want.Schedule == "timesteps") Cmp("eps", have.Eps, want.Eps);
        if (want.Cache != "none") Cmp("block_start", have.BlockStart, want.BlockStart);
        if (want.Unmasking is "threshold" or "dynamic_top_k") Cmp("threshold", have.Threshold, want.Threshold);
        if (want.Unmasking == "factor") Cmp("factor", have.Factor, want.Factor);
        Cmp("confidence", have.Confidence, want.Confidence);
        Cmp("temperature", have.Temperature, want.Temperature);
        if (want.Temperature > 0)
        {
            Cmp("sampler", have.Sampler, want.Sampler);
            Cmp("top_k", have.TopK, want.TopK);
            Cmp("top_p", have.TopP, want.TopP);
        }
        Cmp("alg_temp", have.AlgTemp, want.AlgTemp);
        Cmp("overfull_top_k", have.OverfullTopK, want.OverfullTopK);
        Cmp("cache", have.Cache, want.Cache);
        if (!graph.Provenance.Calibrated) list.Add("the graph is uncalibrated");
        return list;
    }
}
