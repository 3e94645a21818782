using System.Globalization;
using Spiffy.Schema.Graphs;

namespace Spiffy.Calibration;

/// <summary>
/// Offline calibration over recorded traces: counts every draftable step's true future states as
/// formulas relative to (state, drafting distribution), connects them into the observed DAG, selects
/// nodes by an objective and assembles the graph with its provenance. Everything after recording is
/// model-free and deterministic.
/// </summary>
public sealed class Calibrator
{
    /// <summary>Counts the formulas of <paramref name="traces"/> within <paramref name="limits"/> and builds the candidate DAG.</summary>
    /// <param name="traces">Baseline trajectories recorded with the configuration the graph will be served with.</param>
    /// <param name="limits">The highest position rank, token rank and depth a node may use.</param>
    public Calibrator(TraceSet traces, FormulaLimits limits)
    {
        ArgumentNullException.ThrowIfNull(traces);
        ArgumentNullException.ThrowIfNull(limits);
        limits.Check();
        Traces = traces;
        Limits = limits;
        Table = new FormulaTable();
        Chains = new FormulaChains(traces, Table, limits);
        Counts = Chains.Counts();
        Dag = new CandidateDag(Table, Counts);
        Replay = new TraceReplay(traces);
        Selection = new GraphSelection(Dag, Chains, Replay);
    }

    /// <summary>The trajectories calibration counts.</summary>
    public TraceSet Traces { get; }
    /// <summary>The highest ranks and depth a node may use.</summary>
    public FormulaLimits Limits { get; }
    internal FormulaTable Table { get; }
    internal FormulaChains Chains { get; }
    /// <summary>Occurrences per formula id.</summary>
    internal long[] Counts { get; }
    internal CandidateDag Dag { get; }
    internal TraceReplay Replay { get; }
    internal GraphSelection Selection { get; }

    /// <summary>Distinct formulas (candidate nodes) observed within the limits.</summary>
    public int FormulaCount => Dag.NodeCount;

    /// <summary>Steps at which a speculator drafts: the observations counted.</summary>
    public long StepsObserved => Chains.DraftableSteps;

    /// <summary>The oracle bound on the calibration traces.</summary>
    internal ReplayResult Oracle() => Chains.Oracle(Traces);

    internal List<int> Select(SelectionObjective objective, int nodes, DraftKeep keep = default, CancellationToken cancel = default)
        => Selection.Select(objective, nodes, keep, cancel);

    /// <summary>Selects <paramref name="nodes"/> nodes by <paramref name="objective"/>
    /// and assembles the calibrated graph, with its provenance and D* profile.</summary>
    /// <param name="name">The graph's name (the generated decoder class is named after it).</param>
    /// <param name="objective">How nodes are selected (docs/calibration.md).</param>
    /// <param name="nodes">Draft nodes to select.</param>
    /// <param name="keep">D* stored in the graph: drafts kept per forward (default: all; none is refused: a graph serves drafts).</param>
    /// <param name="note">Free text recorded in the provenance, before the replayed summary.</param>
    /// <param name="cancel">Checked during selection.</param>
    public GraphSpec Calibrate(string name, SelectionObjective objective, int nodes, DraftKeep keep = default, string note = "",
        CancellationToken cancel = default)
    {
        if (keep.IsNone) throw new ArgumentException("a graph is calibrated to draft: D* none would store a graph that never drafts");
        return Graph(Select(objective, nodes, keep, cancel), name, objective, keep, note);
    }

    /// <summary>
    /// The graph of the given formula ids, with provenance. The note records what the file alone
    /// cannot (seed, early stop, DAG size) and the replayed result on the calibration prompts.
    /// </summary>
    internal GraphSpec Graph(IReadOnlyList<int> ids, string name, SelectionObjective objective, DraftKeep keep, string note = "")
    {
        var h = Traces.Header;
        var limits = new GraphLimits(Limits.MaxPositionRank, Limits.MaxTokenRank, Limits.MaxDepth);
        var provisional = GraphAssembly.Build(Dag, ids, name, h.ModelName, h.ModelHash, h.Decoding, limits,
            new GraphProvenance(true, SelectionObjectives.Name(objective), h.PromptSource, Traces.Sequences.Count, StepsObserved, ""), keep);
        var replayed = Replay.Replay(provisional, keep);
        var oracle = Oracle();
        var ci = CultureInfo.InvariantCulture;
        string summary = string.Create(ci,
            $"{(h.PromptDigest.Length > 0 ? $"prompts sha256 {h.PromptDigest}; " : "")}seed {h.Seed}, "
                + $"early_stop {(h.EarlyStop ? "true" : "false")}; {Dag.NodeCount} distinct formulas observed; on the calibration prompts: NFE {replayed.Nfe} "
                + $"vs {replayed.BaselineNfe} plain ({replayed.Speedup:F3}x fewer), oracle {oracle.Nfe} ({oracle.Speedup:F3}x)");
        string fullNote = note.Length > 0 ? note + "; " + summary : summary;
        return provisional with { Provenance = provisional.Provenance with { Note = fullNote, KeepProfile = KeepProfile(provisional) } };
    }

    /// <summary>
    /// Step forwards and rows on the calibration traces for every D* from 0 (plain) to the node
    /// count (all), so the serving machine can pick D* with its own cost of a row (KeepChooser).
    /// </summary>
    internal Spiffy.Schema.EquatableArray<KeepCost> KeepProfile(GraphSpec graph)
    {
        var profile = new KeepCost[graph.Nodes.Count + 1];
        for (int k = 1; k <= graph.Nodes.Count; k++)
        {
            var r = Replay.Replay(graph, DraftKeep.Of(k));
            profile[k] = new KeepCost(k, r.Speculation.StepForwards, r.Speculation.RowsTotal);
            if (k == 1)
            {
                // Forwards other than step forwards (block starts, SDAR prefill/block end) do not depend on D*.
                long plainSteps = r.BaselineNfe - (r.Nfe - r.Speculation.StepForwards);
                profile[0] = new KeepCost(0, plainSteps, plainSteps);
            }
        }
        if (graph.Nodes.Count == 0) profile[0] = new KeepCost(0, 0, 0);
        return new Schema.EquatableArray<KeepCost>(profile);
    }
}

/// <summary>One line of an objective comparison: a graph selected on the calibration traces, replayed on held-out ones.</summary>
internal sealed record ComparisonRow(SelectionObjective Objective, int Nodes, DraftKeep Keep, ReplayResult Result);

/// <summary>
/// Replayed NFE and acceptance of every objective x D x D* on held-out traces, against the
/// oracle bound (docs/calibration.md records the shipped model's table).
/// </summary>
internal sealed class ObjectiveComparison
{
    private ObjectiveComparison(List<ComparisonRow> rows, ReplayResult oracle, ReplayResult calibrationOracle, FormulaLimits limits)
    {
        Rows = rows; Oracle = oracle; CalibrationOracle = calibrationOracle; Limits = limits;
    }

    public List<ComparisonRow> Rows { get; }
    /// <summary>The oracle bound on the held-out traces.</summary>
    public ReplayResult Oracle { get; }
    public ReplayResult CalibrationOracle { get; }
    public FormulaLimits Limits { get; }

    /// <param name="keeps">D* values; a count not below D is skipped (it keeps everything, as all does).</param>
    public static ObjectiveComparison Run(Calibrator calibration, TraceSet heldOut, IReadOnlyList<SelectionObjective> objectives,
        IReadOnlyList<int> nodes, IReadOnlyList<DraftKeep> keeps, Action<string>? progress = null, CancellationToken cancel = default)
    {
        var eval = new TraceReplay(heldOut);
        var oracle = new FormulaChains(heldOut, new FormulaTable(), calibration.Limits).Oracle(heldOut);
        var rows = new List<ComparisonRow>();
        foreach (var objective in objectives)
            foreach (int d in nodes)
            {
                List<int>? shared = null; // selection ignores D* except for replay-greedy's pruned phase
                foreach (var keep in keeps)
                {
                    if (keep.IsNone || keep.Count >= d) continue;
                    cancel.ThrowIfCancellationRequested();
                    var ids = objective == SelectionObjective.ReplayGreedy
                        ? calibration.Select(objective, d, keep, cancel)
                        : shared ??= calibration.Select(objective, d, DraftKeep.All, cancel);
                    var graph = GraphAssembly.Build(calibration.Dag, ids, "compare", "", "", heldOut.Header.Decoding,
                        new GraphLimits(calibration.Limits.MaxPositionRank, calibration.Limits.MaxTokenRank, calibration.Limits.MaxDepth),
                        new GraphProvenance(true, SelectionObjectives.Name(objective), "", 0, 0, ""), keep);
                    var result = eval.Replay(graph, keep);
                    rows.Add(new ComparisonRow(objective, graph.Nodes.Count, keep, result));
                    progress?.Invoke(string.Create(CultureInfo.InvariantCulture, $"{SelectionObjectives.Name(objective)} D={d} D*={keep}: {result}"));
                }
            }
        return new ObjectiveComparison(rows, oracle, calibration.Oracle(), calibration.Limits);
    }

    /// <summary>A Markdown table (culture-invariant), best NFE per (D, D*) in bold.</summary>
    public string ToMarkdown()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        long baseline = Oracle.BaselineNfe;
        sb.Append(ci, $"Held-out: {Oracle.SequenceNfe.Length} prompts, plain decoder {baseline} forwards. Oracle bound (every observed formula with position "
            + $"rank <= {Limits.MaxPositionRank}, token rank <= {Limits.MaxTokenRank}, depth <= {Limits.MaxDepth} drafted, no width limit): {Oracle.Nfe} "
            + $"forwards ({Oracle.Speedup:F2}x fewer), accepted/forward {Oracle.Speculation.AcceptMean:F2}.\n\n");
        sb.Append("| objective | D | D* | NFE | fewer forwards | accepted/forward | rows/forward | share of oracle saving |\n");
        sb.Append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var row in Rows)
        {
            var r = row.Result;
            bool best = true;
            foreach (var other in Rows)
                if (other.Nodes == row.Nodes && other.Keep == row.Keep && other.Result.Nfe < r.Nfe) best = false;
            double share = baseline == Oracle.Nfe ? 0 : (double)(baseline - r.Nfe) / (baseline - Oracle.Nfe);
            string nfe = best ? string.Create(ci, $"**{r.Nfe}**") : r.Nfe.ToString(ci);
            sb.Append(ci, $"| {SelectionObjectives.Name(row.Objective)} | {row.Nodes} | {row.Keep} | {nfe} | {r.Speedup:F2}x | {r.Speculation.AcceptMean:F2} "
                + $"| {r.Speculation.RowsPerForward:F2} | {share * 100:F0}% |\n");
        }
        sb.Append(ci, $"| oracle | - | - | {Oracle.Nfe} | {Oracle.Speedup:F2}x | {Oracle.Speculation.AcceptMean:F2} | - | 100% |\n");
        return sb.ToString();
    }
}
