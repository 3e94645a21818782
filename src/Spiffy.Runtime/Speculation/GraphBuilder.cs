using Spiffy.Schema;
using Spiffy.Schema.Graphs;

namespace Spiffy.Speculation;

/// <summary>
/// Builds a valid draft graph from formulas: orders nodes by depth, numbers them, and derives every
/// parent by the parent rule (depth one less, strict subset of pairs), so callers never list edges by hand.
/// </summary>
internal static class GraphBuilder
{
    /// <summary>One node to place: its pairs, depth (steps ahead) and calibration count.</summary>
    public readonly record struct NodeDraft((int Position, int Token)[] Pairs, int Depth, long Count);

    /// <summary>Formulas with depth = pair count (one token per step) and no counts.</summary>
    public static GraphSpec FromFormulas(string name, GraphDecoding decoding, IReadOnlyList<(int, int)[]> formulas, int maxPositionRank, int maxTokenRank)
    {
        var drafts = new List<NodeDraft>();
        foreach (var f in formulas) drafts.Add(new NodeDraft(f, f.Length, 0));
        return Build(name, "", "", decoding, drafts, new GraphLimits(maxPositionRank, maxTokenRank, MaxDepth(drafts)),
            new GraphProvenance(false, "hand-written", "", 0, 0, ""), DraftKeep.All);
    }

    public static GraphSpec Build(string name, string modelName, string modelHash, GraphDecoding decoding, IReadOnlyList<NodeDraft> nodes,
        GraphLimits limits, GraphProvenance provenance, DraftKeep keep)
    {
        // Stable order: by depth, then by the given order.
        var order = Enumerable.Range(0, nodes.Count).OrderBy(i => nodes[i].Depth).ThenBy(i => i).ToArray();
        var specs = new NodeSpec[order.Length];
        for (int n = 0; n < order.Length; n++)
        {
            var d = nodes[order[n]];
            var parents = new List<int>();
            if (d.Depth == 1) parents.Add(0);
            for (int p = 0; p < n; p++)
            {
                var cand = nodes[order[p]];
                if (cand.Depth == d.Depth - 1 && IsStrictSubset(cand.Pairs, d.Pairs)) parents.Add(p + 1);
            }
            specs[n] = new NodeSpec(n + 1, d.Depth, new EquatableArray<int>(d.Pairs.Select(x => x.Position).ToArray()),
                new EquatableArray<int>(d.Pairs.Select(x => x.Token).ToArray()), new EquatableArray<int>(parents.ToArray()), d.Count, 0, 0);
        }
        return new GraphSpec(name, modelName, modelHash, decoding, limits, provenance, keep, new EquatableArray<NodeSpec>(specs));
    }

    private static int MaxDepth(List<NodeDraft> nodes) => nodes.Count == 0 ? 1 : nodes.Max(n => n.Depth);

    private static bool IsStrictSubset((int, int)[] a, (int, int)[] b) => a.Length < b.Length && a.All(b.Contains);
}
