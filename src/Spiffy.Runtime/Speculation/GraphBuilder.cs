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
        // Stable order: by depth, then by the given order; the parents come from the parent rule (GraphTopology).
        var ordered = nodes.OrderBy(n => n.Depth)
            .Select(d => NodeSpec.Create(0, d.Depth, d.Pairs.Select(x => x.Position).ToArray(), d.Pairs.Select(x => x.Token).ToArray(),
                Array.Empty<int>(), d.Count)).ToArray();
        return new GraphSpec(name, modelName, modelHash, decoding, limits, provenance, keep,
            new EquatableArray<NodeSpec>(GraphTopology.WithDerivedParents(ordered)));
    }

    private static int MaxDepth(List<NodeDraft> nodes) => nodes.Count == 0 ? 1 : nodes.Max(n => n.Depth);
}
