using System.Text.Json;
using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Schema.Decoding;

namespace Spiffy.Cli.Commands;

/// <summary>
/// JSON fields several verbs write, in one place so they read alike: snake_case names, and enum
/// values spelled as in the graph and model files ("schedule", "dynamic_top_k", "none").
/// </summary>
internal static class JsonFields
{
    /// <summary>The decoding configuration as an "options" object.</summary>
    public static void Options(Utf8JsonWriter w, DecodingOptions o, string name = "options")
    {
        w.WriteStartObject(name);
        w.WriteNumber("gen_length", o.GenLength);
        w.WriteNumber("block_length", o.BlockLength);
        w.WriteNumber("steps", o.EffectiveSteps);
        w.WriteString("unmasking", DecodingNames.Unmasking.Name(o.Unmasking));
        w.WriteNumber("threshold", o.Threshold);
        w.WriteNumber("factor", o.Factor);
        w.WriteNumber("k", o.K);
        w.WriteString("confidence", DecodingNames.Confidence.Name(o.Confidence));
        w.WriteNumber("temperature", o.Temperature);
        w.WriteString("sampler", DecodingNames.Sampler.Name(o.Sampler));
        w.WriteNumber("top_k", o.TopK);
        w.WriteNumber("top_p", o.TopP);
        w.WriteNumber("alg_temp", o.AlgTemp);
        w.WriteBoolean("overfull_top_k", o.OverfullTopK);
        w.WriteNumber("seed", o.Seed);
        w.WriteString("cache", DecodingNames.Cache.Name(o.Cache));
        w.WriteBoolean("early_stop", o.EarlyStop);
        Numbers(w, "stop_tokens", o.StopTokens.Select(t => (long)t).ToArray());
        w.WriteString("layout", DecodingNames.Layout.Name(o.Layout));
        w.WriteEndObject();
    }

    /// <summary>A named array of integers (ids, counts, histograms).</summary>
    public static void Numbers(Utf8JsonWriter w, string name, IEnumerable<long> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    public static void Numbers(Utf8JsonWriter w, string name, IEnumerable<int> values) => Numbers(w, name, values.Select(v => (long)v));

    /// <summary>The fields of a trace replay (inside an object the caller opened).</summary>
    public static void Replay(Utf8JsonWriter w, ReplayResult r)
    {
        w.WriteNumber("nfe", r.Nfe);
        w.WriteNumber("baseline_nfe", r.BaselineNfe);
        w.WriteNumber("nfe_reduction", r.Speedup);
        w.WriteNumber("accept_mean", r.Speculation.AcceptMean);
        w.WriteNumber("rows_per_forward", r.Speculation.RowsPerForward);
        Numbers(w, "accept_histogram", r.Speculation.AcceptedByDepth);
    }
}
