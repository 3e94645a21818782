using System.Globalization;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Benchmarking;

/// <summary>
/// One benchmark mode: a decoding configuration, optionally with a Spiffy graph and D* (Keep, 0 =
/// all drafts), and the name of the mode it must reproduce token for token (its own base, the same
/// configuration without Spiffy). Lossless false marks an opt-in approximate mode (packed layout),
/// whose differences are reported, not counted as failures.
/// </summary>
internal sealed record BenchMode(string Name, DecodingOptions Options, GraphSpec? Graph = null, DraftKeep Keep = default, string? Base = null,
    bool Lossless = true, string Note = "")
{
    /// <summary>A speculator for this mode's graph and D* (null without a graph); a generation holds it, so one per run.</summary>
    public GraphSpeculator? NewSpeculator() => Graph is { } g ? new GraphSpeculator(new DraftGraph(g), Options.BlockLength, Keep) : null;
}

/// <summary>Everything measured for one mode over all prompts: the generations' counters summed, and the comparisons.</summary>
internal sealed class ModeResult
{
    public ModeResult(BenchMode mode, int prompts) { Mode = mode; Outputs = new long[prompts][]; }

    public BenchMode Mode { get; }
    public long[][] Outputs { get; }
    /// <summary>Generations summed into <see cref="Total"/>.</summary>
    public int Runs { get; internal set; }
    /// <summary>
    /// The mode's generations summed (<see cref="DecodingStatistics.Add"/>): NFE, steps, tokens, wall time,
    /// transfers and Spiffy's counters; its <see cref="DecodingStatistics.Batch"/> sums their batches (steady-state allocation).
    /// </summary>
    public DecodingStatistics Total { get; } = DecodingStatistics.Sum();
    /// <summary>The most live tensors any generation gained after its first step forward (0: nothing leaks across steps).</summary>
    public long LiveTensorGrowth { get; internal set; }
    /// <summary>Share of prompts whose final answer ("#### N") matches the reference (NaN when not scored).</summary>
    public double Accuracy { get; set; } = double.NaN;
    /// <summary>Prompts whose output differs from the base mode's (must be 0 for lossless modes).</summary>
    public int Mismatches { get; internal set; }

    public double MeanNfe => Runs == 0 ? 0 : (double)Total.Nfe / Runs;
    public double WallMs => Total.WallTime.TotalMilliseconds;
    public double TokensPerSecond => WallMs <= 0 ? 0 : Total.TokensCommitted / (WallMs / 1000);
    /// <summary>Against the <c>baseline</c> mode: baseline NFE / this NFE.</summary>
    public double NfeReduction { get; internal set; } = double.NaN;
    /// <summary>Against the <c>baseline</c> mode: baseline wall time / this wall time.</summary>
    public double Speedup { get; internal set; } = double.NaN;
    /// <summary>Against this mode's own base (NaN for base modes).</summary>
    public double NfeReductionVsBase { get; internal set; } = double.NaN;
    public double SpeedupVsBase { get; internal set; } = double.NaN;
}

/// <summary>
/// Runs every mode on every prompt in one process: a warm-up generation per mode first, then the
/// prompts in order with the modes interleaved (rotated per prompt), so machine drift and cache
/// effects hit every mode alike. Ratios are computed from the same run only.
/// </summary>
internal static class BenchRunner
{
    public const string BaselineName = "baseline";

    /// <summary>Generations one <see cref="Run"/> decodes (one warm-up per mode included), for a progress display.</summary>
    public static int Generations(int prompts, int modes) => modes * (prompts + 1);

    /// <param name="log">Milestones (warm-up done, each prompt done).</param>
    /// <param name="generationDone">Called after every generation, warm-ups included (<see cref="Generations"/> calls in all).</param>
    public static List<ModeResult> Run(SpiffyModel model, IReadOnlyList<long[]> prompts, IReadOnlyList<BenchMode> modes,
        Action<string>? log = null, CancellationToken cancel = default, Action? generationDone = null)
    {
        if (prompts.Count == 0) throw new ArgumentException("no prompts to benchmark");
        var results = new List<ModeResult>(modes.Count);
        var byName = new Dictionary<string, ModeResult>(StringComparer.Ordinal);
        foreach (var m in modes)
        {
            foreach (var p in prompts) m.Options.Validate(model.Spec, p.Length);
            var r = new ModeResult(m, prompts.Count);
            if (!byName.TryAdd(m.Name, r)) throw new ArgumentException($"two modes are named '{m.Name}'");
            results.Add(r);
        }
        foreach (var r in results)
            if (r.Mode.Base is not null && !byName.ContainsKey(r.Mode.Base))
                throw new ArgumentException($"mode '{r.Mode.Name}' names an unknown base '{r.Mode.Base}'");

        var speculators = modes.Select(m => m.NewSpeculator()).ToArray();

        for (int i = 0; i < modes.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            model.Generate(prompts[0], modes[i].Options, speculators[i], null, cancel); // warm-up, not counted
            generationDone?.Invoke();
        }
        log?.Invoke($"warm-up done ({modes.Count} modes)");
        for (int p = 0; p < prompts.Count; p++)
        {
            for (int k = 0; k < modes.Count; k++)
            {
                cancel.ThrowIfCancellationRequested();
                int i = (k + p) % modes.Count;
                var gen = model.Generate(prompts[p], modes[i].Options, speculators[i], null, cancel);
                Add(results[i], p, gen);
                generationDone?.Invoke();
            }
            log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"prompt {p + 1}/{prompts.Count} done"));
        }
        Compare(results, byName);
        return results;
    }

    private static void Add(ModeResult r, int prompt, GenerationResult gen)
    {
        var s = gen.Statistics;
        r.Outputs[prompt] = gen.TokenIds;
        r.Runs++;
        r.Total.Add(s);
        r.Total.Batch.Add(s.Batch); // one sequence per generation: its batch is its own
        r.LiveTensorGrowth = Math.Max(r.LiveTensorGrowth, s.LiveTensorsPeak - s.LiveTensorsFirstStep);
    }

    private static void Compare(List<ModeResult> results, Dictionary<string, ModeResult> byName)
    {
        byName.TryGetValue(BaselineName, out var baseline);
        foreach (var r in results)
        {
            if (baseline is not null)
            {
                r.NfeReduction = (double)baseline.Total.Nfe / r.Total.Nfe;
                r.Speedup = baseline.WallMs / r.WallMs;
            }
            if (r.Mode.Base is null) continue;
            var b = byName[r.Mode.Base];
            r.NfeReductionVsBase = (double)b.Total.Nfe / r.Total.Nfe;
            r.SpeedupVsBase = b.WallMs / r.WallMs;
            int mismatches = 0;
            for (int p = 0; p < r.Outputs.Length; p++)
                if (!r.Outputs[p].AsSpan().SequenceEqual(b.Outputs[p])) mismatches++;
            r.Mismatches = mismatches;
        }
    }
}
