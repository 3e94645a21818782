using Spiffy.Schema.Graphs;

namespace Spiffy.Calibration;

/// <summary>How calibration chooses which observed formulas become draft nodes.</summary>
public enum SelectionObjective
{
    /// <summary>The paper's degree-1 accumulation: weight(q) = count(q) + sum of its observed parents' counts.</summary>
    Degree1,
    /// <summary>Plain frequency: weight(q) = count(q).</summary>
    Frequency,
    /// <summary>Whole-ancestor accumulation: weight(q) = count(q) + sum of all its observed ancestors' counts.</summary>
    Ancestors,
    /// <summary>Each time, the frontier node whose addition lowers the replayed NFE of the calibration traces most.</summary>
    ReplayGreedy,
}

internal static class SelectionObjectives
{
    public static readonly SelectionObjective[] All =
    {
        SelectionObjective.Degree1, SelectionObjective.Frequency, SelectionObjective.Ancestors, SelectionObjective.ReplayGreedy
    };

    public static string Name(SelectionObjective o) => o switch
    {
        SelectionObjective.Degree1 => "degree1",
        SelectionObjective.Frequency => "frequency",
        SelectionObjective.Ancestors => "ancestors",
        _ => "replay-greedy",
    };

    public static SelectionObjective Parse(string s) => s.ToLowerInvariant() switch
    {
        "degree1" or "degree-1" => SelectionObjective.Degree1,
        "frequency" => SelectionObjective.Frequency,
        "ancestors" => SelectionObjective.Ancestors,
        "replay-greedy" or "replaygreedy" or "replay" => SelectionObjective.ReplayGreedy,
        _ => throw new ArgumentException($"unknown objective \"{s}\" (degree1 | frequency | ancestors | replay-greedy)"),
    };
}

/// <summary>
/// Greedy growth of a root-connected node set: start from the root's children, repeatedly take the
/// best frontier node by the objective (ties: higher count, then canonical formula order), then add
/// its children to the frontier. A formula already taken at another depth is skipped (the graph
/// format holds each formula once). The paper's objectives are sums of fixed node weights, so greedy
/// growth maximises them one node at a time; replay-greedy rescores the frontier after every pick.
/// </summary>
internal sealed class GraphSelection
{
    /// <summary>In the pruned phase of replay-greedy each candidate costs a full exact replay: only this many best-counted frontier nodes are tried.</summary>
    public const int PrunedCandidates = 48;

    private readonly CandidateDag _dag;
    private readonly FormulaChains? _chains;
    private readonly TraceReplay? _replay;
    private readonly Dictionary<int, long> _degree1 = new(), _ancestors = new();

    /// <param name="dag">Observed formulas and counts.</param>
    /// <param name="chains">The calibration traces' chains (replay-greedy; ids of the dag's table).</param>
    /// <param name="replay">Exact replay of the calibration traces (replay-greedy once more nodes than D* are chosen).</param>
    public GraphSelection(CandidateDag dag, FormulaChains? chains = null, TraceReplay? replay = null)
    {
        _dag = dag;
        _chains = chains;
        _replay = replay;
        if (chains is not null && chains.Table != dag.Table) throw new ArgumentException("the chains and the DAG must share one formula table");
    }

    /// <summary>Selects up to <paramref name="nodes"/> formula ids (fewer when the observed DAG is smaller), in pick order.</summary>
    public List<int> Select(SelectionObjective objective, int nodes, DraftKeep keep = default, CancellationToken cancel = default)
    {
        if (nodes < 1) throw new ArgumentOutOfRangeException(nameof(nodes), "a graph needs at least one node");
        if (objective == SelectionObjective.ReplayGreedy && _chains is null) throw new ArgumentException("replay-greedy needs the calibration traces");
        var selected = new List<int>();
        var frontier = new List<int>();
        var inFrontier = new HashSet<int>();
        var member = new bool[_dag.Table.Count];
        foreach (int id in _dag.AtDepth(1)) { frontier.Add(id); inFrontier.Add(id); }
        while (selected.Count < nodes)
        {
            cancel.ThrowIfCancellationRequested();
            frontier.RemoveAll(id => TakenAtOtherDepth(selected, id));
            if (frontier.Count == 0) break;
            int best;
            if (objective != SelectionObjective.ReplayGreedy) best = BestByWeight(frontier, objective);
            else
            {
                bool pruned = keep.Count is int k && selected.Count + 1 > k && _replay is not null;
                best = pruned ? BestByPrunedReplay(frontier, selected, keep) : BestByReplay(frontier, member);
            }
            selected.Add(best);
            member[best] = true;
            frontier.Remove(best);
            foreach (int c in _dag.ChildrenOf(best))
                if (inFrontier.Add(c)) frontier.Add(c);
        }
        return selected;
    }

    private bool TakenAtOtherDepth(List<int> selected, int id)
    {
        var pairs = _dag.Pairs(id);
        foreach (int s in selected)
            if (_dag.Depth(s) != _dag.Depth(id) && FormulaTable.SamePairs(_dag.Pairs(s), pairs)) return true;
        return false;
    }

    private int BestByWeight(List<int> frontier, SelectionObjective objective)
    {
        int best = -1;
        long bestW = 0;
        foreach (int id in frontier)
        {
            long w = Weight(id, objective);
            if (best < 0 || w > bestW || (w == bestW && _dag.Compare(id, best) < 0)) { best = id; bestW = w; }
        }
        return best;
    }

    /// <summary>The objective's fixed weight of a node (the root counts 0).</summary>
    public long Weight(int id, SelectionObjective objective)
    {
        if (objective == SelectionObjective.Frequency) return _dag.Count(id);
        var memo = objective == SelectionObjective.Degree1 ? _degree1 : _ancestors;
        if (memo.TryGetValue(id, out long w)) return w;
        w = _dag.Count(id);
        if (objective == SelectionObjective.Degree1) foreach (int p in _dag.ParentsOf(id)) w += _dag.Count(p);
        else foreach (int a in _dag.AncestorsOf(id)) w += _dag.Count(a);
        return memo[id] = w;
    }

    private int BestByReplay(List<int> frontier, bool[] member)
    {
        int best = -1;
        long bestNfe = long.MaxValue;
        foreach (int id in frontier)
        {
            member[id] = true;
            long nfe = _chains!.Nfe(member);
            member[id] = false;
            if (best < 0 || nfe < bestNfe || (nfe == bestNfe && _dag.Compare(id, best) < 0)) { best = id; bestNfe = nfe; }
        }
        return best;
    }

    private int BestByPrunedReplay(List<int> frontier, List<int> selected, DraftKeep keep)
    {
        var tried = new List<int>(frontier);
        tried.Sort(_dag.Compare);
        if (tried.Count > PrunedCandidates) tried.RemoveRange(PrunedCandidates, tried.Count - PrunedCandidates);
        int best = -1;
        long bestNfe = long.MaxValue;
        var ids = new List<int>(selected) { 0 };
        var limits = _chains!.Limits;
        var graphLimits = new GraphLimits(limits.MaxPositionRank, limits.MaxTokenRank, limits.MaxDepth);
        var decoding = _replay!.Traces.Header.Decoding;
        foreach (int id in tried)
        {
            ids[^1] = id;
            var graph = GraphAssembly.Build(_dag, ids, "candidate", "", "", decoding, graphLimits,
                new GraphProvenance(false, "", "", 0, 0, ""), keep);
            long nfe = _replay.Replay(graph, keep).Nfe;
            if (best < 0 || nfe < bestNfe || (nfe == bestNfe && _dag.Compare(id, best) < 0)) { best = id; bestNfe = nfe; }
        }
        return best;
    }
}
