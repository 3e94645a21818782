using Spiffy.Schema;
using Spiffy.Schema.Graphs;

namespace Spiffy.Calibration;

/// <summary>Turns selected formula ids into a valid <see cref="GraphSpec"/>: deterministic node order and complete parent lists.</summary>
internal static class GraphAssembly
{
    /// <summary>
    /// Nodes ordered by depth, then count (descending), then pairs; ids 1..D in that order; every
    /// selected node of depth d-1 whose pairs are a strict subset is listed as a parent (depth-1 nodes: the root, 0).
    /// </summary>
    public static GraphSpec Build(CandidateDag dag, IReadOnlyList<int> ids, string name, string modelName, string modelHash, GraphDecoding decoding,
        GraphLimits limits, GraphProvenance provenance, DraftKeep keep)
    {
        var order = new List<int>(ids);
        order.Sort((a, b) =>
        {
            int c = dag.Depth(a).CompareTo(dag.Depth(b));
            return c != 0 ? c : dag.Compare(a, b);
        });
        var nodes = new NodeSpec[order.Count];
        for (int n = 0; n < order.Count; n++)
        {
            int id = order[n];
            var pairs = dag.Pairs(id);
            var pos = new int[pairs.Length];
            var tok = new int[pairs.Length];
            for (int k = 0; k < pairs.Length; k++) { pos[k] = FormulaTable.PositionRank(pairs[k]); tok[k] = FormulaTable.TokenRank(pairs[k]); }
            nodes[n] = NodeSpec.Create(0, dag.Depth(id), pos, tok, Array.Empty<int>(), dag.Count(id));
        }
        return new GraphSpec(name, modelName, modelHash, decoding, limits, provenance, keep,
            new EquatableArray<NodeSpec>(GraphTopology.WithDerivedParents(nodes)));
    }
}
