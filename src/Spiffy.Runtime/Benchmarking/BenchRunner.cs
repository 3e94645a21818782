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

/// <summary>Everything measured for one mode over all prompts.</summary>
internal sealed class ModeResult : TransferCounters
{
    public ModeResult(BenchMode mode, int prompts) { Mode = mode; Outputs = new long[prompts][]; }

    public BenchMode Mode { get; }
    public long[][] Outputs { get; }
    public int Runs { get; internal set; }
    public long Nfe { get; internal set; }
    public long Steps { get; internal set; }
    public long Tokens { get; internal set; }
    public double WallMs { get; internal set; }
    public long ManagedBytes { get; internal set; }
    /// <summary>Spiffy's counters summed over the mode's generations.</summary>
    public SpeculationCounters Speculation { get; } = new SpeculationCounters();
    public long StepForwards => Speculation.StepForwards;
    public long Rows => Speculation.RowsTotal;
    public long VerificationForwards => Speculation.VerificationForwards;
    public long FreeSteps => Speculation.FreeSteps;
    public long LiveTensorGrowth { get; internal set; }
    public IReadOnlyList<long> AcceptedByDepth => Speculation.AcceptedByDepth;
    /// <summary>Share of prompts whose final answer ("#### N") matches the reference (NaN when not scored).</summary>
    public double Accuracy { get; set; } = double.NaN;
    /// <summary>Prompts whose output differs from the base mode's (must be 0 for lossless modes).</summary>
    public int Mismatches { get; internal set; }

    public double MeanNfe => Runs == 0 ? 0 : (double)Nfe / Runs;
    public double Tpf => Nfe == 0 ? 0 : (double)Tokens / Nfe;
    public double TokensPerSecond => WallMs <= 0 ? 0 : Tokens / (WallMs / 1000);
    public double RowsPerForward => Speculation.RowsPerForward;
    /// <summary>Steady-state managed bytes and the step forwards they were measured over (<see cref="BatchStatistics.SteadyStateBytes"/>).</summary>
    public long SteadyStateBytes { get; internal set; }
    public long SteadyStateStepForwards { get; internal set; }
    public long SteadyStateTensors { get; internal set; }
    public long SteadyStateNativeTensors { get; internal set; }
    /// <summary>TorchSharp tensor wrappers created per step forward in steady state (0: the decode loop makes none).</summary>
    public double TensorsPerStep => SteadyStateStepForwards == 0 ? 0 : (double)SteadyStateTensors / SteadyStateStepForwards;
    /// <summary>Native tensors (libtorch results held by handle, no managed object) per step forward in steady state.</summary>
    public double NativeTensorsPerStep => SteadyStateStepForwards == 0 ? 0 : (double)SteadyStateNativeTensors / SteadyStateStepForwards;
    /// <summary>Managed bytes per step forward in steady state (setup per generation excluded).</summary>
    public double AllocBytesPerStep => SteadyStateStepForwards == 0 ? 0 : (double)SteadyStateBytes / SteadyStateStepForwards;
    public double AcceptMean => Speculation.AcceptMean;
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
        r.Nfe += s.Nfe;
        r.Steps += s.Steps;
        r.Tokens += s.TokensCommitted;
        r.WallMs += s.WallTime.TotalMilliseconds;
        r.ManagedBytes += s.ManagedBytes;
        r.SteadyStateBytes += s.Batch.SteadyStateBytes;
        r.SteadyStateTensors += s.Batch.SteadyStateTensors;
        r.SteadyStateNativeTensors += s.Batch.SteadyStateNativeTensors;
        r.SteadyStateStepForwards += s.Batch.SteadyStateStepForwards;
        r.Speculation.Add(s.Speculation);
        r.AddTransfers(s);
        r.LiveTensorGrowth = Math.Max(r.LiveTensorGrowth, s.LiveTensorsPeak - s.LiveTensorsFirstStep);
    }

    private static void Compare(List<ModeResult> results, Dictionary<string, ModeResult> byName)
    {
        byName.TryGetValue(BaselineName, out var baseline);
        foreach (var r in results)
        {
            if (baseline is not null)
            {
                r.NfeReduction = (double)baseline.Nfe / r.Nfe;
                r.Speedup = baseline.WallMs / r.WallMs;
            }
            if (r.Mode.Base is null) continue;
            var b = byName[r.Mode.Base];
            r.NfeReductionVsBase = (double)b.Nfe / r.Nfe;
            r.SpeedupVsBase = b.WallMs / r.WallMs;
            int mismatches = 0;
            for (int p = 0; p < r.Outputs.Length; p++)
                if (!r.Outputs[p].AsSpan().SequenceEqual(b.Outputs[p])) mismatches++;
            r.Mismatches = mismatches;
        }
    }
}
