using System.Globalization;
using System.Text.Json;
using Spiffy.Checkpoints;
using Spiffy.Decoding;
using Spiffy.Devices;
using Spiffy.Modeling;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;
using Spiffy.Speculation;
using static TorchSharp.torch;

namespace Spiffy.Benchmarking;

/// <summary>The step-forward cost by rows of one verification layout, and the D* it implies for a graph.</summary>
internal sealed record RowCostCurve(string Layout, ForwardCost Cost, KeepChoice? Choice)
{
    /// <summary>Each sample's time relative to the one-row forward (the first sample when 1 is not measured).</summary>
    public IEnumerable<(int Rows, double Ms, double Relative)> Relative()
    {
        double one = Cost.Samples.Count == 0 ? 1 : Cost.Samples.OrderBy(s => s.Rows).First().Ms;
        foreach (var (rows, ms) in Cost.Samples) yield return (rows, ms, ms / Math.Max(1e-9, one));
    }
}

/// <summary>
/// The row-cost curve of a model at real size: the step-forward time for 1, 2, 4, ... rows with the
/// dual cache and with no cache, measured with the decoder's own forward code. The model may come
/// from a checkpoint or be instantiated from its description with random weights directly on the
/// device (no file): the cost of a forward does not depend on the weights' values.
/// </summary>
internal static class RowCostBench
{
    /// <summary>The layouts measured, in report order: the decoder's cache modes that carry verification rows.</summary>
    public static readonly CacheMode[] Layouts = { CacheMode.Dual, CacheMode.None };

    /// <summary>A model of <paramref name="spec"/>'s architecture with random weights made on <paramref name="device"/>.</summary>
    public static DiffusionTransformer RandomModel(ModelSpec spec, ScalarType dtype, Device device, long seed)
    {
        var model = new DiffusionTransformer(spec, dtype, device);
        try
        {
            model.InitializeRandom(seed);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Measures each layout at <paramref name="rowCounts"/> (minimum of <paramref name="repeats"/> timings, the
    /// middle block of a generation after a prompt of <paramref name="promptLength"/> tokens) and,
    /// when <paramref name="graphs"/> has a graph with a calibration profile for a layout, the D*
    /// the curve picks for it.
    /// </summary>
    public static List<RowCostCurve> Measure(DiffusionTransformer model, DecodingOptions options, int promptLength, IReadOnlyList<int> rowCounts,
        Func<DecodingOptions, GraphSpec?> graphs, int repeats, Action<string>? log = null, CancellationToken cancel = default)
    {
        var curves = new List<RowCostCurve>();
        foreach (var cache in Layouts)
        {
            var o = options with { Cache = cache };
            var graph = graphs(o);
            var cost = ForwardCostModel.Measure(model, o, promptLength, rowCounts, repeats, cancel,
                topTokenRanks: graph is null ? 0 : new DraftGraph(graph).TopTokenRanks);
            var choice = graph is null ? null : KeepChooser.Choose(graph, cost);
            var curve = new RowCostCurve(cache == CacheMode.Dual ? "dual-cache" : "no-cache", cost, choice);
            log?.Invoke(cost.ToString());
            curves.Add(curve);
        }
        return curves;
    }

    /// <summary>One JSON object: the model, device, shape of the measurement and each curve.</summary>
    public static void WriteJson(Stream stream, ModelSpec spec, DiffusionTransformer model, bool randomWeights, DecodingOptions options,
        int promptLength, IReadOnlyList<RowCostCurve> curves, string? graphName)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("model", spec.Name);
        w.WriteNumber("parameters", spec.ParameterCount);
        w.WriteBoolean("random_weights", randomWeights);
        w.WriteString("device", ComputeDevice.Name(model.Device));
        w.WriteString("dtype", Checkpoint.DTypeName(model.DType));
        w.WriteString("machine", BenchReport.DescribeMachine());
        w.WriteString("date", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture));
        w.WriteNumber("prompt_length", promptLength);
        w.WriteNumber("gen_length", options.GenLength);
        w.WriteNumber("block_length", options.BlockLength);
        if (graphName is not null) w.WriteString("graph", graphName);
        w.WriteStartArray("curves");
        foreach (var c in curves)
        {
            w.WriteStartObject();
            w.WriteString("layout", c.Layout);
            w.WriteNumber("fixed_ms", c.Cost.FixedMs);
            w.WriteNumber("per_row_ms", c.Cost.PerRowMs);
            w.WriteStartArray("samples");
            foreach (var (rows, ms, rel) in c.Relative())
            {
                w.WriteStartObject();
                w.WriteNumber("rows", rows);
                w.WriteNumber("ms", ms);
                w.WriteNumber("relative_to_one_row", rel);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (c.Choice is not null)
            {
                w.WriteStartObject("d_star");
                w.WriteString("keep", c.Choice.Keep.ToString());
                // NaN when the profile has no plain (D* none) entry to compare with.
                if (double.IsFinite(c.Choice.PredictedSpeedup)) w.WriteNumber("predicted_speedup", c.Choice.PredictedSpeedup);
                else w.WriteNull("predicted_speedup");
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>A Markdown table of the curves (rows x layouts, ms and relative to one row).</summary>
    public static string ToMarkdown(IReadOnlyList<RowCostCurve> curves)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.Append("| rows |");
        foreach (var c in curves) sb.Append(ci, $" {c.Layout} ms | {c.Layout} x one row |");
        sb.Append('\n').Append("|---:|");
        foreach (var _ in curves) sb.Append("---:|---:|");
        sb.Append('\n');
        var rel = curves.Select(c => c.Relative().ToList()).ToList();
        int n = rel.Count == 0 ? 0 : rel.Min(r => r.Count);
        for (int i = 0; i < n; i++)
        {
            sb.Append(ci, $"| {rel[0][i].Rows} |");
            foreach (var r in rel) sb.Append(ci, $" {r[i].Ms:F2} | {r[i].Relative:F2} |");
            sb.Append('\n');
        }
        foreach (var c in curves)
            if (c.Choice is not null)
                sb.Append(ci, $"\n{c.Layout}: D* = {c.Choice.Keep} from this curve (predicted {c.Choice.PredictedSpeedup:F2}x on the step forwards)");
        return sb.ToString();
    }
}
