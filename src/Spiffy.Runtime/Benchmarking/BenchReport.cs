using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Spiffy.Calibration;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Benchmarking;

/// <summary>A finished benchmark run: its configuration, the machine, the measured cost models and every mode's result.</summary>
internal sealed class BenchReport
{
    public required string Model { get; init; }
    public required string PromptSource { get; init; }
    public required int Prompts { get; init; }
    public required int GenLength { get; init; }
    public required int BlockLength { get; init; }
    public required string Command { get; init; }
    public required IReadOnlyList<ModeResult> Modes { get; init; }
    public IReadOnlyList<ForwardCost> Costs { get; init; } = Array.Empty<ForwardCost>();
    /// <summary>Oracle bound per base mode name (replay of the benchmark prompts' own trajectories).</summary>
    public IReadOnlyDictionary<string, ReplayResult> Oracles { get; init; } = new Dictionary<string, ReplayResult>();
    public string Machine { get; init; } = DescribeMachine();
    /// <summary>The device every mode ran on ("cpu", "cuda:0") and the weights' dtype.</summary>
    public string Device { get; init; } = "cpu";
    public string DType { get; init; } = "";
    public DateTime Date { get; init; } = DateTime.UtcNow;

    public static string DescribeMachine()
    {
        string cpu = "";
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal)) { cpu = line[(line.IndexOf(':') + 1)..].Trim(); break; }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return string.Create(CultureInfo.InvariantCulture,
            $"{(cpu.Length > 0 ? cpu + ", " : "")}{Environment.ProcessorCount} logical CPUs, {RuntimeInformation.OSDescription.Trim()}, "
                + $".NET {Environment.Version}, TorchSharp");
    }

    public void WriteJson(Stream stream)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions
        {
            Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping
        });
        w.WriteStartObject();
        w.WriteString("model", Model);
        w.WriteNumber("prompts", Prompts);
        w.WriteString("prompt_source", PromptSource);
        w.WriteNumber("gen_length", GenLength);
        w.WriteNumber("block_length", BlockLength);
        w.WriteString("machine", Machine);
        w.WriteString("device", Device);
        if (DType.Length > 0) w.WriteString("dtype", DType);
        w.WriteString("date", Date.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture));
        w.WriteStartArray("cost_models");
        foreach (var c in Costs)
        {
            w.WriteStartObject();
            w.WriteString("configuration", c.Configuration);
            w.WriteNumber("fixed_ms", Round(c.FixedMs));
            w.WriteNumber("per_row_ms", Round(c.PerRowMs));
            w.WriteBoolean("reliable", c.Reliable);
            w.WriteNumber("spread", Round(c.Spread));
            if (!c.Reliable) w.WriteString("problem", c.Verdict);
            w.WriteStartArray("samples");
            foreach (var (rows, ms) in c.Samples) { w.WriteStartObject(); w.WriteNumber("rows", rows); w.WriteNumber("ms", Round(ms)); w.WriteEndObject(); }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("modes");
        foreach (var r in Modes)
        {
            w.WriteStartObject();
            w.WriteString("name", r.Mode.Name);
            w.WriteString("base", r.Mode.Base);
            w.WriteString("graph", r.Mode.Graph?.Name);
            // D* as the CLI spells it: "all", "none" or the count ("none" for a mode without a graph).
            w.WriteString("keep", r.Mode.Graph is null ? DraftKeep.None.ToString() : r.Mode.Keep.ToString());
            w.WriteBoolean("lossless", r.Mode.Lossless);
            w.WriteNumber("nfe", Round(r.MeanNfe));
            w.WriteNumber("tpf", Round(r.Total.Tpf));
            w.WriteNumber("tokens_per_s", Round(r.TokensPerSecond));
            Ratio(w, "nfe_reduction", r.NfeReduction);
            Ratio(w, "speedup", r.Speedup);
            Ratio(w, "nfe_reduction_vs_base", r.NfeReductionVsBase);
            Ratio(w, "speedup_vs_base", r.SpeedupVsBase);
            w.WriteNumber("mismatches", r.Mismatches);
            Ratio(w, "accuracy", r.Accuracy);
            w.WriteNumber("accept_mean", Round(r.Total.AcceptMean));
            w.WriteStartArray("accept_histogram");
            foreach (var n in r.Total.AcceptedByDepth) w.WriteNumberValue(n);
            w.WriteEndArray();
            w.WriteNumber("rows_per_forward", Round(r.Total.RowsPerForward));
            w.WriteNumber("syncs_per_step", Round(r.Total.SyncsPerStep));
            w.WriteNumber("alloc_bytes_per_step", Round(r.Total.Batch.AllocBytesPerStepForward));
            w.WriteNumber("tensors_per_step", Round(r.Total.Batch.TensorsPerStepForward));
            w.WriteNumber("native_tensors_per_step", Round(r.Total.Batch.NativeTensorsPerStepForward));
            w.WriteNumber("live_tensor_growth", r.LiveTensorGrowth);
            w.WriteNumber("wall_ms", Round(r.WallMs));
            if (Oracles.TryGetValue(r.Mode.Name, out var o))
            {
                w.WriteStartObject("oracle");
                w.WriteNumber("nfe", Round((double)o.Nfe / Prompts));
                w.WriteNumber("nfe_reduction", Round(o.Speedup));
                w.WriteNumber("accept_mean", Round(o.Speculation.AcceptMean));
                w.WriteEndObject();
            }
            if (r.Mode.Note.Length > 0) w.WriteString("note", r.Mode.Note);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.Flush();
    }

    public string ToJson()
    {
        using var ms = new MemoryStream();
        WriteJson(ms);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void Ratio(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsNaN(v)) w.WriteNull(name);
        else w.WriteNumber(name, Round(v));
    }

    private static double Round(double v) => Math.Round(v, 4, MidpointRounding.AwayFromZero);

    /// <summary>The results table (Markdown, culture-invariant).</summary>
    public string ToMarkdownTable()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("| mode | D* | NFE | tokens/forward | tokens/s | NFE reduction | speedup | vs own base: NFE / wall | mismatches | accuracy | "
            + "accepted/forward | acceptance by depth | rows/forward | alloc/step |\n");
        sb.Append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n");
        foreach (var r in Modes)
        {
            string keep = r.Mode.Graph is null ? "-" : r.Mode.Keep.ToString();
            string vsBase = r.Mode.Base is null ? "-" : string.Create(ci, $"{r.NfeReductionVsBase:F2}x / {r.SpeedupVsBase:F2}x");
            string hist = r.Mode.Graph is null ? "-" : Histogram(r.Total.AcceptedByDepth);
            string mism = r.Mode.Base is null ? "-" : r.Mode.Lossless ? r.Mismatches.ToString(ci) : string.Create(ci, $"{r.Mismatches} (approximate)");
            sb.Append(ci, $"| {r.Mode.Name} | {keep} | {r.MeanNfe:F1} | {r.Total.Tpf:F2} | {r.TokensPerSecond:F1} | {r.NfeReduction:F2}x | {r.Speedup:F2}x "
                + $"| {vsBase} | {mism} | {(double.IsNaN(r.Accuracy) ? "-" : (r.Accuracy * 100).ToString("F0", ci) + "%")} "
                + $"| {(r.Mode.Graph is null ? "-" : r.Total.AcceptMean.ToString("F2", ci))} | {hist} | {r.Total.RowsPerForward:F2} "
                + $"| {r.Total.Batch.AllocBytesPerStepForward / 1024:F1} KB |\n");
        }
        return sb.ToString();
    }

    /// <summary>"0:12% 1:30% ..." shares of verification forwards by accepted chain length.</summary>
    public static string Histogram(IReadOnlyList<long> byDepth)
    {
        long n = 0;
        foreach (var c in byDepth) n += c;
        if (n == 0) return "-";
        var sb = new StringBuilder();
        for (int d = 0; d < byDepth.Count; d++)
            sb.Append(CultureInfo.InvariantCulture, $"{(d > 0 ? " " : "")}{d}:{100.0 * byDepth[d] / n:F0}%");
        return sb.ToString();
    }

    public string CostTable()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("| configuration | fixed ms | ms per row | a second row costs | samples (rows: min ms) | spread | fit "
            + "|\n|---|---:|---:|---:|---|---:|---|\n");
        foreach (var c in Costs)
        {
            var samples = new StringBuilder();
            foreach (var (rows, ms) in c.Samples) samples.Append(ci, $"{(samples.Length > 0 ? ", " : "")}{rows}: {ms:F1}");
            string ratio = c.Reliable ? string.Create(ci, $"{c.RowCostRatio * 100:F0}% of a 1-row forward") : "-";
            sb.Append(ci, $"| {c.Configuration} | {c.FixedMs:F2} | {c.PerRowMs:F2} | {ratio} | {samples} | {c.Spread * 100:F0}% "
                + $"| {(c.Reliable ? "reliable" : c.Verdict)} |\n");
        }
        return sb.ToString();
    }

    public string OracleTable()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("| base mode | plain NFE | oracle NFE | oracle NFE reduction | oracle accepted/forward |\n|---|---:|---:|---:|---:|\n");
        foreach (var (name, o) in Oracles.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            sb.Append(ci, $"| {name} | {(double)o.BaselineNfe / Prompts:F1} | {(double)o.Nfe / Prompts:F1} | {o.Speedup:F2}x "
                + $"| {o.Speculation.AcceptMean:F2} |\n");
        return sb.ToString();
    }
}
