using System.Collections.Generic;
using System.Text;
using Spiffy.Schema.Graphs;

namespace Spiffy.Generators;

public sealed partial class SpiffyGenerator
{
    private const string Span = "global::System.Span";
    private const string ReadOnlySpan = "global::System.ReadOnlySpan";
    private const string MathNs = "global::System.Math";

    /// <summary>The graph's edges, computed once per emission (node n = file id n + 1; children in node order, as DraftGraph lists them).</summary>
    private sealed class Shape
    {
        public Shape(GraphSpec g)
        {
            int d = g.Nodes.Count;
            Children = new List<int>[d];
            for (int n = 0; n < d; n++) Children[n] = new List<int>();
            for (int n = 0; n < d; n++)
                foreach (int pid in g.Nodes[n].Parents)
                {
                    var list = pid == 0 ? RootChildren : Children[pid - 1];
                    if (!list.Contains(n)) list.Add(n);
                }
            for (int n = 0; n < d; n++)
            {
                int maxI = 0;
                foreach (int i in g.Nodes[n].PositionRanks) if (i > maxI) maxI = i;
                MaxRank.Add(maxI);
                foreach (int j in g.Nodes[n].TokenRanks) if (j > TopJ) TopJ = j;
                if (maxI > RankBuffer) RankBuffer = maxI;
            }
        }

        public List<int> RootChildren { get; } = new List<int>();
        public List<int>[] Children { get; }
        /// <summary>Per node, its highest position rank: it is instantiable when that many positions are masked.</summary>
        public List<int> MaxRank { get; } = new List<int>();
        public int TopJ { get; } = 1;
        public int RankBuffer { get; } = 1;
    }

    private static string Bit(int node) => IndentedWriter.Mask(1UL << node);

    private static string MaskOf(IEnumerable<int> nodes)
    {
        ulong m = 0;
        foreach (int n in nodes) m |= 1UL << n;
        return IndentedWriter.Mask(m);
    }

    private static string Ids(IEnumerable<int> nodes, string none)
    {
        var sb = new StringBuilder();
        foreach (int n in nodes) sb.Append(sb.Length > 0 ? ", " : "").Append(Int(n + 1));
        return sb.Length == 0 ? none : sb.ToString();
    }

    /// <summary>"node 4", "nodes 1, 2" or <paramref name="none"/>.</summary>
    private static string Nodes(List<int> nodes, string none = "none")
        => nodes.Count == 0 ? none : (nodes.Count == 1 ? "node " : "nodes ") + Ids(nodes, "");

    private static string Formula(NodeSpec node)
    {
        var sb = new StringBuilder("{");
        for (int p = 0; p < node.PairCount; p++)
            sb.Append(p > 0 ? "," : "").Append('(').Append(Int(node.PositionRanks[p])).Append(',').Append(Int(node.TokenRanks[p])).Append(')');
        return sb.Append('}').ToString();
    }

    /// <summary>The review line above each unrolled node: formula, depth, edges and calibration count.</summary>
    private static string Describe(GraphSpec g, Shape s, int n)
    {
        var node = g.Nodes[n];
        var parents = new List<int>();
        foreach (int pid in node.Parents) if (pid > 0 && !parents.Contains(pid - 1)) parents.Add(pid - 1);
        return $"Node {Int(node.Id)} {Formula(node)}: depth {Int(node.Depth)}; parents: {Nodes(parents, "the root")}; children: {Nodes(s.Children[n])}; calibration count {Int(node.Count)}.";
    }

    private static void EmitUnrolled(IndentedWriter w, DecoderPlan plan)
    {
        var g = plan.Graph;
        var s = new Shape(g);
        w.Comment("Buffers sized once from the graph: Draft, Match and Depth allocate nothing.");
        w.Line($"private const int TopJ = {Int(s.TopJ)};");
        w.Line("private readonly int _keep;");
        w.Line($"private readonly int[] _ranked = new int[{Int(s.RankBuffer)}];");
        w.Line("private readonly int[] _nodeRow = new int[NodeCount]; // node -> draft row this forward, -1 when not drafted");
        w.Line("private readonly int[] _rowNode = new int[NodeCount]; // draft row -> node");
        w.Line("private readonly long[] _rows; // this forward's draft rows, for Match");
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
        EmitDraft(w, g, s);
        EmitKeepAll(w, g, s);
        EmitPrune(w, g, s);
        EmitMatch(w, g, s);
        EmitDepth(w, g);
        EmitHelpers(w, g, s);
    }

    private static void EmitDraft(IndentedWriter w, GraphSpec g, Shape s)
    {
        int d = g.Nodes.Count;
        w.Line("/// <inheritdoc/>");
        w.Open($"public int Draft({ReadOnlySpan}<long> state, int maskId, {ReadOnlySpan}<double> topProbs, {ReadOnlySpan}<long> topTokens, {Span}<long> drafts)");
        w.Line("if (state.Length != BlockLength) ThrowWrongBlockLength(state.Length);");
        w.Line("int[] ranked = _ranked;");
        w.Line("int masked = global::Spiffy.Speculation.DraftRanking.RankPositions(state, maskId, topProbs, TopJ, ranked);");
        w.Comment("A node is instantiable when the block has a masked position for each of its position ranks.");
        w.Line("ulong valid = 0;");
        var ranks = new SortedSet<int>(s.MaxRank);
        foreach (int r in ranks)
        {
            var nodes = new List<int>();
            for (int n = 0; n < d; n++) if (s.MaxRank[n] == r) nodes.Add(n);
            w.Line($"if (masked >= {Int(r)}) valid |= {MaskOf(nodes)}; // {Nodes(nodes)}");
        }
        w.Line("ulong kept = _keep >= NodeCount ? KeepAll(valid) : Prune(valid, topProbs);");
        w.Line($"new {Span}<int>(_nodeRow).Fill(-1);");
        w.Line("int rows = 0;");
        for (int n = 0; n < d; n++)
        {
            var node = g.Nodes[n];
            w.Line();
            w.Comment(Describe(g, s, n));
            w.Open($"if ((kept & {Bit(n)}) != 0)");
            w.Line($"{Span}<long> row = drafts.Slice(rows * BlockLength, BlockLength);");
            w.Line("state.CopyTo(row);");
            for (int p = 0; p < node.PairCount; p++)
            {
                int i = node.PositionRanks[p], j = node.TokenRanks[p];
                w.Line($"int at{Int(i)} = ranked[{Int(i - 1)}];");
                w.Line($"row[at{Int(i)}] = topTokens[at{Int(i)} * TopJ{(j > 1 ? " + " + Int(j - 1) : "")}];");
            }
            w.Line($"_nodeRow[{Int(n)}] = rows;");
            w.Line($"_rowNode[rows] = {Int(n)};");
            w.Line("rows++;");
            w.Close();
        }
        w.Line();
        w.Line("drafts.Slice(0, rows * BlockLength).CopyTo(_rows);");
        w.Line("return rows;");
        w.Close();
        w.Line();
    }

    private static void EmitKeepAll(IndentedWriter w, GraphSpec g, Shape s)
    {
        w.Line("/// <summary>Without pruning: an instantiable node is drafted when a parent is (the root always is).</summary>");
        w.Open("private static ulong KeepAll(ulong valid)");
        w.Line($"ulong kept = valid & {MaskOf(s.RootChildren)}; // children of the root: {Nodes(s.RootChildren)}");
        for (int n = 0; n < g.Nodes.Count; n++)
        {
            if (s.RootChildren.Contains(n)) continue;
            var parents = new List<int>();
            foreach (int pid in g.Nodes[n].Parents) if (pid > 0) parents.Add(pid - 1);
            w.Line($"if ((kept & {MaskOf(parents)}) != 0) kept |= valid & {Bit(n)}; // node {Int(n + 1)}: parents are {Nodes(parents)}");
        }
        w.Line("return kept;");
        w.Close();
        w.Line();
    }

    private static void EmitPrune(IndentedWriter w, GraphSpec g, Shape s)
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
        w.Line("int[] ranked = _ranked;");
        w.Comment("Local score of an instantiable node: the geometric mean of P's probabilities for its pairs (0 otherwise).");
        for (int n = 0; n < d; n++)
        {
            var node = g.Nodes[n];
            string local = "local" + Int(node.Id);
            string Log(int p) => $"LogP(topProbs, ranked[{Int(node.PositionRanks[p] - 1)}], {Int(node.TokenRanks[p] - 1)})";
            w.Line($"double {local} = 0;");
            if (node.PairCount == 1)
            {
                w.Line($"if ((valid & {Bit(n)}) != 0) {local} = {MathNs}.Exp({Log(0)}); // {Formula(node)}");
                continue;
            }
            w.Open($"if ((valid & {Bit(n)}) != 0) // {Formula(node)}");
            w.Line($"double sum = {Log(0)};");
            for (int p = 1; p < node.PairCount; p++) w.Line($"sum += {Log(p)};");
            w.Line($"{local} = {MathNs}.Exp(sum / {Int(node.PairCount)});");
            w.Close();
        }
        w.Comment("Scores from the leaves up: the local score combined (geometric mean) with the best child's score.");
        for (int n = d - 1; n >= 0; n--)
        {
            string id = Int(n + 1);
            if (s.Children[n].Count == 0)
            {
                w.Line($"double score{id} = local{id}; // node {id}: a leaf");
                continue;
            }
            string best = "0";
            foreach (int c in s.Children[n]) best = $"Better({best}, score{Int(c + 1)})";
            w.Line($"double score{id} = Combine((valid & {Bit(n)}) != 0, local{id}, {best}); // node {id}: children are {Nodes(s.Children[n])}");
        }
        w.Comment("Greedy growth from the root: keep the best-scoring candidate (ties: the lowest node); its instantiable children become candidates.");
        w.Line($"ulong candidate = valid & {MaskOf(s.RootChildren)};");
        w.Line("ulong kept = 0;");
        w.Open("for (int taken = 0; taken < _keep; taken++)");
        w.Line("ulong open = candidate & ~kept;");
        w.Line("int pick = -1;");
        w.Line("double top = 0;");
        for (int n = 0; n < d; n++)
            w.Line($"if ((open & {Bit(n)}) != 0 && (pick < 0 || score{Int(n + 1)} > top)) {{ pick = {Int(n)}; top = score{Int(n + 1)}; }}");
        w.Line("if (pick < 0) break;");
        w.Line("kept |= 1UL << pick;");
        w.Line("candidate |= valid & ChildMask(pick);");
        w.Close();
        w.Line("return kept;");
        w.Close();
        w.Line();
    }

    private static void EmitMatch(IndentedWriter w, GraphSpec g, Shape s)
    {
        int d = g.Nodes.Count;
        w.Line("/// <inheritdoc/>");
        w.Open($"public int Match(int parent, {ReadOnlySpan}<long> state)");
        w.Open("switch (parent < 0 ? -1 : _rowNode[parent])");
        void Children(List<int> children)
        {
            if (children.Count > 0) w.Line("int row;");
            foreach (int c in children)
                w.Line($"if (IsRow(state, row = _nodeRow[{Int(c)}])) return row; // node {Int(c + 1)}");
            w.Line("return -1;");
        }
        w.Line("case -1:");
        w.Open();
        w.Comment($"The root: children are {Nodes(s.RootChildren)}.");
        Children(s.RootChildren);
        w.Close();
        var leaves = new List<int>();
        for (int n = 0; n < d; n++)
        {
            if (s.Children[n].Count == 0) { leaves.Add(n); continue; }
            w.Line($"case {Int(n)}:");
            w.Open();
            w.Comment($"Node {Int(n + 1)}: children are {Nodes(s.Children[n])}.");
            Children(s.Children[n]);
            w.Close();
        }
        w.Line("default:");
        w.Open();
        w.Comment(leaves.Count == 0 ? "No other node has children." : $"Leaves ({Nodes(leaves)}) have no children.");
        w.Line("return -1;");
        w.Close();
        w.Close();
        w.Close();
        w.Line();
    }

    private static void EmitDepth(IndentedWriter w, GraphSpec g)
    {
        w.Line("/// <inheritdoc/>");
        w.Open("public int Depth(int draft)");
        w.Open("switch (_rowNode[draft])");
        var depths = new SortedDictionary<int, List<int>>();
        for (int n = 0; n < g.Nodes.Count; n++)
        {
            if (!depths.TryGetValue(g.Nodes[n].Depth, out var list)) depths[g.Nodes[n].Depth] = list = new List<int>();
            list.Add(n);
        }
        foreach (var pair in depths)
        {
            foreach (int n in pair.Value) w.Line($"case {Int(n)}:");
            w.Line($"    return {Int(pair.Key)}; // {Nodes(pair.Value)}");
        }
        w.Line("default:");
        w.Line("    throw new global::System.ArgumentOutOfRangeException(nameof(draft));");
        w.Close();
        w.Close();
        w.Line();
    }

    private static void EmitHelpers(IndentedWriter w, GraphSpec g, Shape s)
    {
        w.Line("/// <summary>The instantiated children of a kept node become pruning candidates.</summary>");
        w.Open("private static ulong ChildMask(int node)");
        w.Open("switch (node)");
        for (int n = 0; n < g.Nodes.Count; n++)
        {
            if (s.Children[n].Count == 0) continue;
            w.Line($"case {Int(n)}: return {MaskOf(s.Children[n])}; // node {Int(n + 1)}: children are {Nodes(s.Children[n])}");
        }
        w.Line("default: return 0;");
        w.Close();
        w.Close();
        w.Line();
        w.Line("/// <summary>The log-probability of a pair, floored as the interpreted speculator floors it.</summary>");
        w.Line($"private static double LogP({ReadOnlySpan}<double> topProbs, int position, int tokenRank)");
        w.Line($"    => {MathNs}.Log({MathNs}.Max(topProbs[position * TopJ + tokenRank], 1e-300));");
        w.Line();
        w.Line("/// <summary>The running best child score (NaN never wins, as in the interpreted comparison).</summary>");
        w.Line("private static double Better(double best, double score) => score > best ? score : best;");
        w.Line();
        w.Line("/// <summary>A node's pruning score: its local score, or the geometric mean with its best child's score.</summary>");
        w.Line($"private static double Combine(bool valid, double local, double best) => !valid ? 0 : best > 0 ? {MathNs}.Sqrt(local * best) : local;");
        w.Line();
        w.Line($"private bool IsRow({ReadOnlySpan}<long> state, int row)");
        w.Line($"    => row >= 0 && global::System.MemoryExtensions.SequenceEqual(state, new {ReadOnlySpan}<long>(_rows, row * BlockLength, BlockLength));");
        w.Line();
        w.Line("private static void ThrowWrongBlockLength(int length) => throw new global::System.ArgumentException(");
        w.Line($"    {IndentedWriter.String($"graph \"{g.Name}\" was generated for blocks of {Int(g.Decoding.BlockLength)} tokens; got a state of ")} "
            + "+ length.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \" tokens\", \"state\");");
    }
}
