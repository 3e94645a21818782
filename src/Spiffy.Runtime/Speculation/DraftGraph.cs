using Spiffy.Schema;
using Spiffy.Schema.Graphs;

namespace Spiffy.Speculation;

/// <summary>
/// A validated draft graph in flat arrays (node n = 0..D-1 stands for file id n+1): each node's
/// depth, pairs (position rank, token rank; 1-based) and children. The interpreted speculator and
/// calibration replay walk it; generated decoders unroll the same structure into code.
/// </summary>
public sealed class DraftGraph
{
    /// <summary>Flattens a validated graph (from <see cref="GraphFiles.Load"/> or a generated decoder's <c>Graph</c>).</summary>
    /// <param name="spec">The graph.</param>
    public DraftGraph(GraphSpec spec)
    {
        Spec = spec;
        int d = spec.Nodes.Count;
        Depth = new int[d];
        PairStart = new int[d + 1];
        int pairs = 0;
        for (int n = 0; n < d; n++) { Depth[n] = spec.Nodes[n].Depth; PairStart[n] = pairs; pairs += spec.Nodes[n].PairCount; }
        PairStart[d] = pairs;
        PositionRank = new int[pairs];
        TokenRank = new int[pairs];
        for (int n = 0; n < d; n++)
            for (int p = 0; p < spec.Nodes[n].PairCount; p++)
            {
                PositionRank[PairStart[n] + p] = spec.Nodes[n].PositionRanks[p];
                TokenRank[PairStart[n] + p] = spec.Nodes[n].TokenRanks[p];
            }
        // Children and parents in CSR form, from the schema's topology; index d is the root.
        var topology = new GraphTopology(spec);
        ChildStart = new int[d + 2];
        var children = new List<int>();
        for (int n = 0; n <= d; n++) { ChildStart[n] = children.Count; children.AddRange(topology.ChildrenOf(n)); }
        ChildStart[d + 1] = children.Count;
        Children = children.ToArray();
        ParentStart = new int[d + 1];
        var parents = new List<int>();
        for (int n = 0; n < d; n++) { ParentStart[n] = parents.Count; parents.AddRange(topology.ParentsOf(n)); }
        ParentStart[d] = parents.Count;
        Parents = parents.ToArray();
        MaxPositionRank = topology.MaxPositionRank;
        MaxTokenRank = topology.MaxTokenRank;
        MaxDepth = topology.MaxDepth;
    }

    /// <summary>The graph it was built from.</summary>
    public GraphSpec Spec { get; }
    /// <summary>Draft nodes, the root not counted.</summary>
    public int NodeCount => Depth.Length;
    /// <summary>The pseudo-node index of the root in <see cref="ChildStart"/>.</summary>
    internal int Root => Depth.Length;
    internal int[] Depth { get; }
    internal int[] PairStart { get; }
    internal int[] PositionRank { get; }
    internal int[] TokenRank { get; }
    internal int[] ChildStart { get; }
    internal int[] Children { get; }
    /// <summary>Parents in CSR form (the root appears as <see cref="Root"/>).</summary>
    internal int[] ParentStart { get; }
    internal int[] Parents { get; }
    /// <summary>Highest position rank any node uses.</summary>
    public int MaxPositionRank { get; }
    /// <summary>Highest token rank any node uses.</summary>
    public int MaxTokenRank { get; }
    /// <summary>The top tokens per position a speculator on this graph drafts from (at least one).</summary>
    internal int TopTokenRanks => Math.Max(1, MaxTokenRank);
    /// <summary>Steps ahead of the root of the deepest node.</summary>
    public int MaxDepth { get; }

    internal ReadOnlySpan<int> ParentsOf(int node) => Parents.AsSpan(ParentStart[node], ParentStart[node + 1] - ParentStart[node]);

    internal ReadOnlySpan<int> ChildrenOf(int node) => Children.AsSpan(ChildStart[node], ChildStart[node + 1] - ChildStart[node]);

    /// <summary>
    /// The uncalibrated fallback: a chain of rank-1 drafts {(1,1)}, {(1,1),(2,1)}, ... of the given
    /// length: each step commits the next most confident positions with their top tokens
    /// (<paramref name="tokensPerStep"/> pairs per depth, for fixed-k schedules).
    /// </summary>
    internal static GraphSpec Chain(int length, GraphDecoding decoding, int tokensPerStep = 1)
    {
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length));
        if (tokensPerStep < 1) throw new ArgumentOutOfRangeException(nameof(tokensPerStep));
        var nodes = new NodeSpec[length];
        for (int n = 0; n < length; n++)
        {
            int pairs = (n + 1) * tokensPerStep;
            var pos = new int[pairs];
            var tok = new int[pairs];
            for (int p = 0; p < pairs; p++) { pos[p] = p + 1; tok[p] = 1; }
            nodes[n] = NodeSpec.Create(n + 1, n + 1, pos, tok, new[] { n });
        }
        return new GraphSpec($"uncalibrated-chain-{length}", "", "", decoding, new GraphLimits(length * tokensPerStep, 1, length),
            new GraphProvenance(false, "uncalibrated rank-1 chain", "", 0, 0, "default graph used when no calibrated graph is given"), DraftKeep.All,
            new EquatableArray<NodeSpec>(nodes));
    }

    /// <summary>Tokens a fixed-k schedule commits per step (1 for the other rules, which the chain then approximates).</summary>
    internal static int TokensPerStep(Spiffy.Decoding.DecodingOptions o)
        => o.Unmasking == Spiffy.Decoding.UnmaskingRule.Schedule ? Math.Max(1, o.GenLength / o.EffectiveSteps) : 1;
}
