using CsCheck;
using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Tests.Properties;

/// <summary>
/// Random valid draft graphs for property tests. A graph is grown by a list of operations, each
/// extending an existing node (or the root) by one or two new pairs; the node's depth is its
/// parent's plus one, so every node has a parent one depth up with a strict subset of its pairs and
/// at least as many pairs as its depth. Shrinking the operation list shrinks the graph.
/// </summary>
internal static class RandomGraphs
{
    public const int MaxPositionRank = 6;
    public const int MaxTokenRank = 3;

    /// <summary>Extend node (Parent mod (count + 1); the last index is the root) by (P1,T1) and, if Two, (P2,T2).</summary>
    public readonly record struct GrowOp(int Parent, int P1, int T1, int P2, int T2, bool Two);

    public static readonly Gen<GrowOp> Op = Gen.Select(Gen.Int[0, 63], Gen.Int[1, MaxPositionRank], Gen.Int[1, MaxTokenRank],
        Gen.Int[1, MaxPositionRank], Gen.Int[1, MaxTokenRank], Gen.Bool, (a, p1, t1, p2, t2, two) => new GrowOp(a, p1, t1, p2, t2, two));

    public static readonly Gen<GrowOp[]> Ops = Op.Array[1, 12];

    /// <summary>The formulas (with depths) the operations grow; duplicates and no-op extensions are skipped.</summary>
    public static List<GraphBuilder.NodeDraft> Grow(GrowOp[] ops)
    {
        var nodes = new List<GraphBuilder.NodeDraft>();
        var seen = new HashSet<string>();
        foreach (var op in ops)
        {
            int pick = op.Parent % (nodes.Count + 1);
            var basePairs = pick == nodes.Count ? Array.Empty<(int, int)>() : nodes[pick].Pairs;
            int depth = pick == nodes.Count ? 1 : nodes[pick].Depth + 1;
            var pairs = new List<(int Position, int Token)>(basePairs);
            if (!pairs.Exists(x => x.Position == op.P1)) pairs.Add((op.P1, op.T1));
            if (op.Two && !pairs.Exists(x => x.Position == op.P2)) pairs.Add((op.P2, op.T2));
            if (pairs.Count == basePairs.Length) continue;
            string key = string.Join(";", pairs.Select(x => x.Position * 100 + x.Token).OrderBy(x => x));
            if (!seen.Add(key)) continue;
            nodes.Add(new GraphBuilder.NodeDraft(pairs.ToArray(), depth, 0));
        }
        return nodes;
    }

    public static GraphSpec Build(GrowOp[] ops, GraphDecoding decoding, DraftKeep keep = default)
    {
        var nodes = Grow(ops);
        int maxDepth = nodes.Max(n => n.Depth);
        return GraphBuilder.Build("random", "", "", decoding, nodes, new GraphLimits(MaxPositionRank, MaxTokenRank, maxDepth),
            new GraphProvenance(false, "property test", "", 0, 0, ""), keep);
    }

    public static string Describe(GraphSpec g)
        => string.Join(" ", g.Nodes.Select(n =>
            $"{n.Id}@{n.Depth}{{{string.Join(",", Enumerable.Range(0, n.PairCount).Select(p => $"({n.PositionRanks[p]},{n.TokenRanks[p]})"))}}}"
            + $"<-[{string.Join(",", n.Parents)}]"));

    public static GraphDecoding DefaultDecoding => new(32, 8, 32, UnmaskingRule.Schedule, ConfidenceKind.Probability, 0.9, 1, 1, 0, CacheMode.None);

    /// <summary>A copy of node <paramref name="n"/> with some fields replaced.</summary>
    public static GraphSpec With(GraphSpec g, int n, Func<NodeSpec, NodeSpec> change)
    {
        var nodes = g.Nodes.ToArray();
        nodes[n] = change(nodes[n]);
        return g with { Nodes = new EquatableArray<NodeSpec>(nodes) };
    }

    public static EquatableArray<int> Ints(IEnumerable<int> xs) => new(xs.ToArray());
}
