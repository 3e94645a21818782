using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Benchmarking;

/// <summary>One mode decoded at one batch size: throughput, the batch's forwards and rows, and agreement with batch 1.</summary>
internal sealed class BatchResult
{
    /// <summary>A result of <paramref name="mode"/> at batch size <paramref name="batch"/> over <paramref name="prompts"/> prompts.</summary>
    public BatchResult(BenchMode mode, int batch, int prompts) { Mode = mode; Batch = batch; Outputs = new long[prompts][]; }

    /// <summary>The decoding configuration (and graph) measured.</summary>
    public BenchMode Mode { get; }
    /// <summary>Prompts decoded together by one generation call.</summary>
    public int Batch { get; }
    /// <summary>Every prompt's tokens, in prompt order.</summary>
    public long[][] Outputs { get; }
    /// <summary>
    /// The timed generation calls' batches summed (<see cref="BatchStatistics.Add"/>): forwards, step forwards and
    /// the rows they carried (riding rows included), transfers and steady-state allocation.
    /// </summary>
    public BatchStatistics Batches { get; } = new BatchStatistics();
    /// <summary>Tokens decided over all prompts.</summary>
    public long Tokens { get; internal set; }
    /// <summary>Per-sequence forwards summed over prompts (equal at every batch size for lossless batching).</summary>
    public long SequenceNfe { get; internal set; }
    /// <summary>Wall time of the timed generation calls.</summary>
    public double WallMs { get; internal set; }
    /// <summary>Prompts whose output differs from the same mode at batch 1 (must be 0).</summary>
    public int Mismatches { get; internal set; }

    /// <summary>Decided tokens per second of wall time.</summary>
    public double TokensPerSecond => WallMs <= 0 ? 0 : Tokens / (WallMs / 1000);
    /// <summary>Tokens/s against the same mode at batch 1 (NaN when batch 1 was not measured).</summary>
    public double SpeedupVsBatch1 { get; internal set; } = double.NaN;
}

/// <summary>
/// `spiffy bench --batch`: every mode decodes the same prompts in batches of each size (the prompts in
/// order, groups of N, the last group smaller), one warm-up batch first; throughput is tokens per second
/// of the timed calls. Batch 1 is always measured: each prompt's output at batch N must equal its
/// output at batch 1 (batching is lossless: docs/decoding.md).
/// </summary>
internal static class BatchBench
{
    /// <summary>Runs every mode at every batch size (1 added when missing), batch sizes in ascending order.</summary>
    public static List<BatchResult> Run(SpiffyModel model, IReadOnlyList<long[]> prompts, IReadOnlyList<BenchMode> modes, IReadOnlyList<int> batchSizes,
        Action<string>? log = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (prompts.Count == 0) throw new ArgumentException("no prompts to benchmark");
        var sizes = batchSizes.Append(1).Distinct().Order().ToList();
        if (sizes[0] < 1) throw new ArgumentOutOfRangeException(nameof(batchSizes), "batch sizes must be at least 1");
        var results = new List<BatchResult>();
        foreach (var mode in modes)
        {
            BatchResult? one = null;
            foreach (int n in sizes)
            {
                cancel.ThrowIfCancellationRequested();
                var r = RunOne(model, prompts, mode, n, cancel);
                one ??= r;
                for (int p = 0; p < prompts.Count; p++)
                    if (!r.Outputs[p].AsSpan().SequenceEqual(one.Outputs[p])) r.Mismatches++;
                r.SpeedupVsBatch1 = one.TokensPerSecond <= 0 ? double.NaN : r.TokensPerSecond / one.TokensPerSecond;
                results.Add(r);
                log?.Invoke(string.Create(CultureInfo.InvariantCulture,
                    $"{mode.Name} batch {n}: {r.TokensPerSecond:F1} tokens/s, {r.Batches.RowsPerForward:F2} rows/forward, "
                        + $"{r.Mismatches} outputs differ from batch 1"));
            }
        }
        return results;
    }

    private static BatchResult RunOne(SpiffyModel model, IReadOnlyList<long[]> prompts, BenchMode mode, int n, CancellationToken cancel)
    {
        // One speculator per run: a generation holds it (it is reused by the groups one after the other).
        var speculator = mode.NewSpeculator();
        var decoder = model.Decoder;
        var warm = new long[Math.Min(n, prompts.Count)][];
        for (int i = 0; i < warm.Length; i++) warm[i] = prompts[i];
        decoder.Generate(warm, mode.Options, null, speculator, null, cancel); // warm-up, not counted
        var r = new BatchResult(mode, n, prompts.Count);
        for (int at = 0; at < prompts.Count; at += n)
        {
            cancel.ThrowIfCancellationRequested();
            var group = new long[Math.Min(n, prompts.Count - at)][];
            for (int i = 0; i < group.Length; i++) group[i] = prompts[at + i];
            var watch = Stopwatch.StartNew();
            var gen = decoder.Generate(group, mode.Options, null, speculator, null, cancel);
            r.WallMs += watch.Elapsed.TotalMilliseconds;
            r.Batches.Add(gen[0].Statistics.Batch); // shared by the group's sequences: added once
            for (int i = 0; i < gen.Count; i++)
            {
                var s = gen[i].Statistics;
                r.Outputs[at + i] = gen[i].TokenIds;
                r.Tokens += s.TokensCommitted;
                r.SequenceNfe += s.Nfe;
            }
        }
        return r;
    }

    /// <summary>A Markdown table: one row per mode and batch size.</summary>
    public static string ToMarkdown(IReadOnlyList<BatchResult> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| mode | batch | tokens/s | vs batch 1 | forwards | rows/forward | NFE per prompt | syncs/step | alloc "
            + "bytes/step | differ from batch 1 |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Mode.Name} | {r.Batch} | {r.TokensPerSecond:F1} | {r.SpeedupVsBatch1:F2}x | {r.Batches.Forwards} | {r.Batches.RowsPerForward:F2} "
                    + $"| {(double)r.SequenceNfe / r.Outputs.Length:F1} | {r.Batches.SyncsPerStep:F2} | {r.Batches.AllocBytesPerStepForward:F0} "
                    + $"| {r.Mismatches} |"));
        return sb.ToString();
    }

    /// <summary>The "batches" array of bench's JSON.</summary>
    public static void WriteJson(Utf8JsonWriter w, IReadOnlyList<BatchResult> results)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteStartArray("batches");
        foreach (var r in results)
        {
            w.WriteStartObject();
            w.WriteString("mode", r.Mode.Name);
            w.WriteString("graph", r.Mode.Graph?.Name);
            w.WriteString("keep", r.Mode.Graph is null ? DraftKeep.None.ToString() : r.Mode.Keep.ToString());
            w.WriteNumber("batch", r.Batch);
            w.WriteNumber("tokens_per_s", Math.Round(r.TokensPerSecond, 3));
            if (!double.IsNaN(r.SpeedupVsBatch1)) w.WriteNumber("speedup_vs_batch1", Math.Round(r.SpeedupVsBatch1, 3));
            w.WriteNumber("wall_ms", Math.Round(r.WallMs, 3));
            w.WriteNumber("forwards", r.Batches.Forwards);
            w.WriteNumber("rows_per_forward", Math.Round(r.Batches.RowsPerForward, 3));
            w.WriteNumber("nfe", Math.Round((double)r.SequenceNfe / r.Outputs.Length, 3));
            w.WriteNumber("syncs_per_step", Math.Round(r.Batches.SyncsPerStep, 3));
            w.WriteNumber("alloc_bytes_per_step", Math.Round(r.Batches.AllocBytesPerStepForward, 3));
            w.WriteNumber("tensors_per_step", Math.Round(r.Batches.TensorsPerStepForward, 3));
            w.WriteNumber("native_tensors_per_step", Math.Round(r.Batches.NativeTensorsPerStepForward, 3));
            w.WriteNumber("mismatches", r.Mismatches);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
