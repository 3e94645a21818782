using System;
using System.Collections.Generic;
using System.Text;

namespace Spiffy.Schema.Graphs;

/// <summary>
/// The structure of a draft graph, in one place: the parent rule (a parent is one step shallower and
/// its pairs are a strict subset of the child's), the edges a file lists as node indexes (node n is
/// file id n + 1; <see cref="Root"/> stands for id 0), children in node order, and the rank and depth
/// maxima. The parser checks files against it, the graph builders derive parents with it, and the
/// interpreted speculator and the generator walk the same edges.
/// </summary>
internal sealed class GraphTopology
{
    private readonly int[][] _children;
    private readonly int[][] _parents;
    private readonly int[] _maxPositionRank;

    /// <summary>The edges as the nodes list them (not re-derived: a validated graph lists exactly the rule's parents).</summary>
    public GraphTopology(IReadOnlyList<NodeSpec> nodes)
    {
        int d = nodes.Count;
        var children = new List<int>[d + 1];
        for (int n = 0; n <= d; n++) children[n] = new List<int>();
        _parents = new int[d][];
        _maxPositionRank = new int[d];
        for (int n = 0; n < d; n++)
        {
            var node = nodes[n];
            _parents[n] = new int[node.Parents.Count];
            for (int p = 0; p < node.Parents.Count; p++)
            {
                int parent = node.Parents[p] == 0 ? d : node.Parents[p] - 1;
                _parents[n][p] = parent;
                children[parent].Add(n);
            }
            foreach (int i in node.PositionRanks) _maxPositionRank[n] = Math.Max(_maxPositionRank[n], i);
            foreach (int j in node.TokenRanks) MaxTokenRank = Math.Max(MaxTokenRank, j);
            MaxPositionRank = Math.Max(MaxPositionRank, _maxPositionRank[n]);
            MaxDepth = Math.Max(MaxDepth, node.Depth);
            PairCount += node.PairCount;
        }
        _children = new int[d + 1][];
        for (int n = 0; n <= d; n++) _children[n] = children[n].ToArray();
    }

    public GraphTopology(GraphSpec graph) : this(graph.Nodes) { }

    public int NodeCount => _parents.Length;

    /// <summary>The index that stands for the root (file id 0) in <see cref="ChildrenOf"/> and <see cref="ParentsOf"/>.</summary>
    public int Root => _parents.Length;

    /// <summary>A node's children (or the root's, the depth-1 nodes), in node order.</summary>
    public IReadOnlyList<int> ChildrenOf(int node) => _children[node];

    /// <summary>A node's parents as listed, <see cref="Root"/> for the root.</summary>
    public IReadOnlyList<int> ParentsOf(int node) => _parents[node];

    /// <summary>A node's highest position rank: it can be drafted when the block has that many masked positions.</summary>
    public int MaxPositionRankOf(int node) => _maxPositionRank[node];

    public int MaxPositionRank { get; }
    public int MaxTokenRank { get; }
    public int MaxDepth { get; }

    /// <summary>(position rank, token rank) pairs over all nodes.</summary>
    public int PairCount { get; }

    /// <summary>A pair as one sortable key: by position rank, then token rank.</summary>
    public static long PairKey(int positionRank, int tokenRank) => ((long)positionRank << 32) | (uint)tokenRank;

    /// <summary>A node's pairs as sorted keys (the canonical form of its formula).</summary>
    public static long[] SortedPairs(NodeSpec node)
    {
        var keys = new long[node.PairCount];
        for (int p = 0; p < keys.Length; p++) keys[p] = PairKey(node.PositionRanks[p], node.TokenRanks[p]);
        Array.Sort(keys);
        return keys;
    }

    /// <summary>Whether sorted set <paramref name="a"/> is a strict subset of sorted set <paramref name="b"/>.</summary>
    public static bool IsStrictSubset<T>(IReadOnlyList<T> a, IReadOnlyList<T> b) where T : IComparable<T>
    {
        if (a.Count >= b.Count) return false;
        int j = 0;
        for (int i = 0; i < a.Count; i++)
        {
            while (j < b.Count && b[j].CompareTo(a[i]) < 0) j++;
            if (j == b.Count || b[j].CompareTo(a[i]) != 0) return false;
            j++;
        }
        return true;
    }

    /// <summary>The parent rule: one step shallower, and a strict subset of the child's (sorted) pairs.</summary>
    public static bool IsParent<T>(int parentDepth, IReadOnlyList<T> parentPairs, int childDepth, IReadOnlyList<T> childPairs) where T : IComparable<T>
        => parentDepth == childDepth - 1 && IsStrictSubset(parentPairs, childPairs);

    /// <summary>A canonical text of a node's pair set, for duplicate detection and lookups.</summary>
    public static string FormulaKey(NodeSpec node) => FormulaKey(SortedPairs(node), node.PairCount);

    private static string FormulaKey(long[] sorted, int count)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < count; i++) sb.Append(sorted[i]).Append(';');
        return sb.ToString();
    }

    /// <summary>
    /// For every node, the parents the rule gives it, as file ids in increasing order: 0 for a depth-1
    /// node, else every node one level up whose pairs are a strict subset of its own. Scanning the
    /// level for every node is quadratic (a 100,000-node graph took minutes), so a node with few pairs
    /// enumerates its subsets and looks them up by formula instead; the cheaper of the two is used.
    /// </summary>
    public static int[][] DeriveParents(IReadOnlyList<NodeSpec> nodes)
    {
        var sorted = new long[nodes.Count][];
        var byFormula = new Dictionary<string, int>();
        var byDepth = new Dictionary<int, List<int>>();
        for (int n = 0; n < nodes.Count; n++)
        {
            sorted[n] = SortedPairs(nodes[n]);
            string key = FormulaKey(sorted[n], sorted[n].Length);
            if (!byFormula.ContainsKey(key)) byFormula[key] = n;
            if (!byDepth.TryGetValue(nodes[n].Depth, out var level)) byDepth[nodes[n].Depth] = level = new List<int>();
            level.Add(n);
        }
        var result = new int[nodes.Count][];
        var found = new List<int>();
        for (int n = 0; n < nodes.Count; n++)
        {
            found.Clear();
            int depth = nodes[n].Depth;
            if (depth == 1) found.Add(0);
            else if (byDepth.TryGetValue(depth - 1, out var level))
            {
                int k = sorted[n].Length;
                double subsets = 0;
                for (int size = 1; size < k && subsets <= level.Count; size++) subsets += Binomial(k, size);
                if (subsets > level.Count)
                {
                    foreach (int other in level)
                        if (IsStrictSubset(sorted[other], sorted[n])) found.Add(other + 1);
                }
                else EnumerateSubsets(sorted[n], nodes, depth - 1, byFormula, found);
            }
            found.Sort();
            result[n] = found.ToArray();
        }
        return result;
    }

    /// <summary>Every subset of the pairs, looked up by formula, kept when it is a node of the given depth.</summary>
    private static void EnumerateSubsets(long[] pairs, IReadOnlyList<NodeSpec> nodes, int depth, Dictionary<string, int> byFormula, List<int> found)
    {
        int k = pairs.Length;
        var pick = new int[k];
        var subset = new long[k];
        for (int size = 1; size < k; size++)
        {
            // Index combinations of 'size' out of k, in lexicographic order.
            for (int i = 0; i < size; i++) pick[i] = i;
            while (true)
            {
                for (int i = 0; i < size; i++) subset[i] = pairs[pick[i]];
                if (byFormula.TryGetValue(FormulaKey(subset, size), out int other) && nodes[other].Depth == depth) found.Add(other + 1);
                int j = size - 1;
                while (j >= 0 && pick[j] == k - size + j) j--;
                if (j < 0) break;
                pick[j]++;
                for (int i = j + 1; i < size; i++) pick[i] = pick[i - 1] + 1;
            }
        }
    }

    private static double Binomial(int n, int r)
    {
        double c = 1;
        for (int i = 1; i <= r; i++) c = c * (n - r + i) / i;
        return c;
    }

    /// <summary>
    /// Nodes in file order (shallower first) numbered 1..D with every parent the rule gives them, so
    /// graph builders never list edges by hand. Ids and parents of <paramref name="ordered"/> are ignored.
    /// </summary>
    public static NodeSpec[] WithDerivedParents(IReadOnlyList<NodeSpec> ordered)
    {
        var parents = DeriveParents(ordered);
        var result = new NodeSpec[ordered.Count];
        for (int n = 0; n < ordered.Count; n++)
            result[n] = ordered[n] with { Id = n + 1, Parents = new EquatableArray<int>(parents[n]) };
        return result;
    }
}
