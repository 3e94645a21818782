using System.Collections.Generic;
using System.Text;
using Spiffy.Schema.Graphs;

namespace Spiffy.Generators;

// The unrolled speculator. One numbering throughout: a node is its file id (1..D), and 0 is the root,
// in comments, variable names (local4, score4), switch cases and the _nodeRow table alike; only the
// ulong masks hold node k in bit k - 1. Arithmetic shared with the interpreter lives once in the
// runtime (Spiffy.Speculation.DraftScores, brought in by a file-level "using static"), not in every decoder.
public sealed partial class SpiffyGenerator
{
    private const string Span = "global::System.Span";
    private const string ReadOnlySpan = "global::System.ReadOnlySpan";
    /// <summary>The file-level directive that brings the shared arithmetic into scope (unrolled decoders only).</summary>
    internal const string SharedArithmetic = "using static global::Spiffy.Speculation.DraftScores;";

    /// <summary>The ulong mask of node ids (bit k - 1 for node k).</summary>
    private static string MaskOf(IEnumerable<int> ids)
    {
        ulong m = 0;
        foreach (int id in ids) m |= 1UL << (id - 1);
        return IndentedWriter.Mask(m);
    }

    private static string Bit(int id) => MaskOf(new[] { id });

    /// <summary>File ids of topology indexes (the root's index excluded).</summary>
    private static List<int> Ids(GraphTopology t, IReadOnlyList<int> indexes)
    {
        var ids = new List<int>();
        foreach (int n in indexes) if (n != t.Root) ids.Add(n + 1);
        return ids;
    }

    /// <summary>"node 4", "nodes 1, 2" or <paramref name="none"/>.</summary>
    private static string Nodes(List<int> ids, string none = "none")
    {
        if (ids.Count == 0) return none;
        var sb = new StringBuilder(ids.Count == 1 ? "node " : "nodes ");
        for (int i = 0; i < ids.Count; i++) sb.Append(i > 0 ? ", " : "").Append(Int(ids[i]));
        return sb.ToString();
    }

    private static string Formula(NodeSpec node)
    {
        var sb = new StringBuilder("{");
        for (int p = 0; p < node.PairCount; p++)
            sb.Append(p > 0 ? "," : "").Append('(').Append(Int(node.PositionRanks[p])).Append(',').Append(Int(node.TokenRanks[p])).Append(')');
        return sb.Append('}').ToString();
    }

    /// <summary>The review line above each unrolled node: formula, depth, edges and calibration count.</summary>
    private static string Describe(GraphSpec g, GraphTopology t, int n)
    {
        var node = g.Nodes[n];
        return $"Node {Int(node.Id)} {Formula(node)}: depth {Int(node.Depth)}; parents: {Nodes(Ids(t, t.ParentsOf(n)), "the root")}; "
            + $"children: {Nodes(Ids(t, t.ChildrenOf(n)))}; calibration count {Int(node.Count)}.";
    }

    /// <summary>"int at1 = _ranked[0], at2 = _ranked[1];": the block position of each position rank (meaningful up to the masked count).</summary>
    private static string Positions(GraphTopology t)
    {
        var sb = new StringBuilder("int ");
        for (int i = 1; i <= System.Math.Max(1, t.MaxPositionRank); i++) sb.Append(i > 1 ? ", " : "").Append($"at{Int(i)} = _ranked[{Int(i - 1)}]");
        return sb.Append(';').ToString();
    }

    /// <summary>A ulong[] or int[] initializer, eight values per line, indexed by node id (0: the root).</summary>
    private static void Table(IndentedWriter w, string declaration, IReadOnlyList<string> values)
    {
        w.Line(declaration);
        w.Line("{");
        for (int start = 0; start < values.Count; start += 8)
        {
            var sb = new StringBuilder("    ");
            for (int i = start; i < System.Math.Min(start + 8, values.Count); i++) sb.Append(values[i]).Append(i + 1 < values.Count ? ", " : "");
            w.Line(sb.ToString().TrimEnd());
        }
        w.Line("};");
    }

    private static void EmitUnrolled(IndentedWriter w, DecoderPlan plan)
    {
        var g = plan.Graph;
        var t = new GraphTopology(g);
        w.Comment("Buffers sized once from the graph: Draft, Match and Depth allocate nothing. Node k is file id k; 0 is the root.");
        w.Line($"private const int TopJ = {Int(System.Math.Max(1, t.MaxTokenRank))};");
        w.Line("private readonly int _keep;");
        w.Line($"private readonly int[] _ranked = new int[{Int(System.Math.Max(1, t.MaxPositionRank))}];");
        w.Line("private readonly int[] _nodeRow = new int[NodeCount + 1]; // node -> its draft row this forward, -1 when not drafted");
        w.Line("private readonly int[] _rowNode = new int[NodeCount]; // draft row -> node");
        w.Line("private readonly long[] _rows; // this forward's draft rows, for Match");
        w.Line("private int _rowCount; // rows of the latest Draft");
        w.Line();
        var depths = new List<string> { "0" };
        var childMasks = new List<string> { MaskOf(Ids(t, t.ChildrenOf(t.Root))) };
        for (int n = 0; n < g.Nodes.Count; n++)
        {
            depths.Add(Int(g.Nodes[n].Depth));
            childMasks.Add(MaskOf(Ids(t, t.ChildrenOf(n))));
        }
        w.Comment("Per node: its depth, and the mask of its children (the pruning's new candidates).");
        Table(w, "private static readonly int[] s_depth =", depths);
        Table(w, "private static readonly ulong[] s_children =", childMasks);
        w.Line();
        w.Line("/// <summary>A decoder that keeps at most <paramref name=\"keep\"/> drafts per forward.</summary>");
        w.Line($"/// <param name=\"keep\">{NullKeepDoc}</param>");
        w.Open($"public {plan.ClassName}({Keep}? keep = null)");
        w.Line("Keep = (keep ?? DefaultKeep).For(NodeCount);");
        w.Line("_keep = Keep.Drafts(NodeCount);");
        w.Line("_rows = new long[_keep * BlockLength];");
        w.Close();
        w.Line();
        w.Line("/// <summary>D*, with a count of at least <see cref=\"NodeCount\"/> written as all.</summary>");
        w.Line($"public {Keep} Keep {{ get; }}");
        w.Line();
        w.Line("/// <inheritdoc/>");
        w.Line("public int MaxDrafts => _keep;");
        w.Line();
        w.Line("/// <inheritdoc/>");
        w.Line("public int TopTokenRanks => TopJ;");
        w.Line();
        EmitDraft(w, g, t);
        EmitKeepAll(w, g, t);
        EmitPrune(w, g, t);
        EmitMatch(w, g, t);
        w.Line("/// <inheritdoc/>");
        w.Line("public int Depth(int draft) => s_depth[_rowNode[draft]];");
    }

    private static void EmitDraft(IndentedWriter w, GraphSpec g, GraphTopology t)
    {
        int d = g.Nodes.Count;
        w.Line("/// <inheritdoc/>");
        w.Open($"public int Draft({ReadOnlySpan}<long> state, int maskId, {ReadOnlySpan}<double> topProbs, {ReadOnlySpan}<long> "
            + $"topTokens, {Span}<long> drafts)");
        w.Line($"if (state.Length != BlockLength) ThrowWrongBlockLength(GraphName, BlockLength, state.Length);");
        w.Line("int masked = global::Spiffy.Speculation.DraftRanking.RankPositions(state, maskId, topProbs, TopJ, _ranked);");
        w.Line(Positions(t));
        w.Comment("A node is instantiable when the block has a masked position for each of its position ranks.");
        w.Line("ulong valid = 0;");
        var ranks = new SortedSet<int>();
        for (int n = 0; n < d; n++) ranks.Add(t.MaxPositionRankOf(n));
        foreach (int r in ranks)
        {
            var ids = new List<int>();
            for (int n = 0; n < d; n++) if (t.MaxPositionRankOf(n) == r) ids.Add(n + 1);
            w.Line($"if (masked >= {Int(r)}) valid |= {MaskOf(ids)}; // {Nodes(ids)}");
        }
        w.Line("ulong kept = _keep >= NodeCount ? KeepAll(valid) : Prune(valid, topProbs);");
        w.Line($"new {Span}<int>(_nodeRow).Fill(-1);");
        w.Line("int rows = 0;");
        for (int n = 0; n < d; n++)
        {
            var node = g.Nodes[n];
            w.Comment(Describe(g, t, n));
            w.Open($"if ((kept & {Bit(node.Id)}) != 0)");
            w.Line("var row = StartRow(state, drafts, rows, BlockLength);");
            for (int p = 0; p < node.PairCount; p++)
            {
                string at = "at" + Int(node.PositionRanks[p]);
                int j = node.TokenRanks[p];
                w.Line($"row[{at}] = topTokens[{at} * TopJ{(j > 1 ? " + " + Int(j - 1) : "")}];");
            }
            w.Line($"_nodeRow[{Int(node.Id)}] = rows;");
            w.Line($"_rowNode[rows++] = {Int(node.Id)};");
            w.Close();
        }
        w.Line("drafts.Slice(0, rows * BlockLength).CopyTo(_rows);");
        w.Line("return _rowCount = rows;");
        w.Close();
        w.Line();
    }

    private static void EmitKeepAll(IndentedWriter w, GraphSpec g, GraphTopology t)
    {
        w.Line("/// <summary>Without pruning: an instantiable node is drafted when a parent is (the root always is).</summary>");
        w.Open("private static ulong KeepAll(ulong valid)");
        var rootChildren = Ids(t, t.ChildrenOf(t.Root));
        w.Line($"ulong kept = valid & {MaskOf(rootChildren)}; // children of the root: {Nodes(rootChildren)}");
        for (int n = 0; n < g.Nodes.Count; n++)
        {
            var parents = Ids(t, t.ParentsOf(n));
            if (parents.Count == 0) continue; // a child of the root
            w.Line($"if ((kept & {MaskOf(parents)}) != 0) kept |= valid & {Bit(n + 1)}; // node {Int(n + 1)}: parents {Nodes(parents)}");
        }
        w.Line("return kept;");
        w.Close();
        w.Line();
    }

    private static void EmitPrune(IndentedWriter w, GraphSpec g, GraphTopology t)
    {
        int d = g.Nodes.Count;
        w.Line("/// <summary>Dynamic pruning to <see cref=\"Keep\"/> nodes, root-connected, exactly as GraphSpeculator prunes.</summary>");
        w.Open($"private ulong Prune(ulong valid, {ReadOnlySpan}<double> topProbs)");
        if (d == 0)
        {
            w.Line("return 0;");
            w.Close();
            w.Line();
            return;
        }
        w.Line(Positions(t));
        w.Comment("Local score of an instantiable node: the geometric mean of P's probabilities for its pairs (0 otherwise).");
        for (int n = 0; n < d; n++)
        {
            var node = g.Nodes[n];
            var terms = new List<string>();
            for (int p = 0; p < node.PairCount; p++) terms.Add($"LogP(topProbs, at{Int(node.PositionRanks[p])}, TopJ, {Int(node.TokenRanks[p] - 1)})");
            string head = $"double local{Int(node.Id)} = (valid & {Bit(node.Id)}) == 0 ? 0 : Local(";
            string tail = $", {Int(node.PairCount)}); // {Formula(node)}";
            if (terms.Count <= 3) { w.Line(head + string.Join(" + ", terms) + tail); continue; }
            // Long sums wrap, three terms a line (the additions stay left to right, as in the interpreter).
            w.Line(head);
            for (int i = 0; i < terms.Count; i += 3)
                w.Line("    " + (i > 0 ? "+ " : "") + string.Join(" + ", terms.GetRange(i, System.Math.Min(3, terms.Count - i)))
                    + (i + 3 >= terms.Count ? tail : ""));
        }
        w.Comment("Scores from the leaves up: the local score combined (geometric mean) with the best child's score.");
        for (int n = d - 1; n >= 0; n--)
        {
            string id = Int(n + 1);
            var children = Ids(t, t.ChildrenOf(n));
            if (children.Count == 0)
            {
                w.Line($"double score{id} = local{id}; // a leaf");
                continue;
            }
            string best = "0";
            foreach (int c in children) best = $"Better({best}, score{Int(c)})";
            w.Line($"double score{id} = Combine((valid & {Bit(n + 1)}) != 0, local{id}, {best});");
        }
        w.Comment("Greedy growth from the root: keep the best-scoring candidate (ties: the lowest node); its instantiable children become candidates.");
        w.Line($"ulong candidate = valid & s_children[0];");
        w.Line("ulong kept = 0;");
        w.Open("for (int taken = 0; taken < _keep; taken++)");
        w.Line("ulong open = candidate & ~kept;");
        w.Line("int pick = 0;");
        w.Line("double top = 0;");
        for (int n = 0; n < d; n++)
        {
            string id = Int(n + 1);
            w.Line($"if ((open & {Bit(n + 1)}) != 0 && (pick == 0 || score{id} > top)) {{ pick = {id}; top = score{id}; }}");
        }
        w.Line("if (pick == 0) break;");
        w.Line("kept |= 1UL << (pick - 1);");
        w.Line("candidate |= valid & s_children[pick];");
        w.Close();
        w.Line("return kept;");
        w.Close();
        w.Line();
    }

    private static void EmitMatch(IndentedWriter w, GraphSpec g, GraphTopology t)
    {
        int d = g.Nodes.Count;
        w.Line("/// <inheritdoc/>");
        w.Open($"public int Match(int parent, {ReadOnlySpan}<long> state)");
        w.Comment("A row the latest Draft did not fill has no children to match (-1 reaches the default).");
        w.Open("switch (parent < 0 ? 0 : parent < _rowCount ? _rowNode[parent] : -1)");
        void Case(int id, List<int> children, string what)
        {
            w.Line($"case {Int(id)}: // {what}: children are {Nodes(children)}");
            foreach (int c in children)
                w.Line($"    if (IsRow(state, _rows, _nodeRow[{Int(c)}], BlockLength)) return _nodeRow[{Int(c)}];");
            w.Line("    return -1;");
        }
        Case(0, Ids(t, t.ChildrenOf(t.Root)), "the root");
        var leaves = new List<int>();
        for (int n = 0; n < d; n++)
        {
            var children = Ids(t, t.ChildrenOf(n));
            if (children.Count == 0) leaves.Add(n + 1);
            else Case(n + 1, children, "node " + Int(n + 1));
        }
        w.Line(leaves.Count == 0 ? "default:" : $"default: // leaves ({Nodes(leaves)})");
        w.Line("    return -1;");
        w.Close();
        w.Close();
        w.Line();
    }
}
