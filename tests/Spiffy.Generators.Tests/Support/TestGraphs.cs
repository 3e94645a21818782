using System.Globalization;
using System.Text;
using Spiffy.Decoding;
using Spiffy.Schema;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;

namespace Spiffy.Generators.Tests.Support;

/// <summary>Builds draft graphs for tests and writes them in the graph file format.</summary>
public static class TestGraphs
{
    public static GraphDecoding Decoding(int genLength = 256, int blockLength = 32, UnmaskingRule unmasking = UnmaskingRule.Schedule) =>
        new(genLength, blockLength, 0, unmasking, ConfidenceKind.Probability, 0.9, 1.0, 1, 0.0, CacheMode.None);

    /// <summary>A node from (position rank, token rank) pairs; ids are assigned in list order.</summary>
    public static NodeSpec Node(int id, int depth, (int I, int J)[] pairs, int[] parents, long count = 0) =>
        NodeSpec.Create(id, depth, pairs.Select(p => p.I).ToArray(), pairs.Select(p => p.J).ToArray(), parents, count);

    public static GraphSpec Graph(string name, string model, GraphDecoding decoding, IReadOnlyList<NodeSpec> nodes, DraftKeep keep = default)
    {
        int maxI = 1, maxJ = 1, maxD = 1;
        foreach (var n in nodes)
        {
            maxD = Math.Max(maxD, n.Depth);
            foreach (int i in n.PositionRanks) maxI = Math.Max(maxI, i);
            foreach (int j in n.TokenRanks) maxJ = Math.Max(maxJ, j);
        }
        return new GraphSpec(name, model, "", decoding, new GraphLimits(maxI, maxJ, maxD),
            new GraphProvenance(false, "test", "", 0, 0, "built by the generator tests"), keep, new EquatableArray<NodeSpec>(nodes.ToArray()));
    }

    /// <summary>A spec with another name and model (e.g. DraftGraph.Chain's, which names none).</summary>
    public static GraphSpec Rename(GraphSpec g, string name, string model) => g with { Name = name, ModelName = model };

    /// <summary>
    /// A random valid graph: depth-1 nodes are single pairs; a deeper node extends a random node one
    /// level up by a pair at a new position rank; parents are every node one level up whose pairs it
    /// contains (the parent rule), so nodes come in depth order. Pair order within a node is shuffled.
    /// </summary>
    public static GraphSpec RandomGraph(Random rng, string name, string model, int nodeCount, int maxI, int maxJ, int maxDepth,
        GraphDecoding decoding, DraftKeep keep = default)
    {
        var formulas = new List<HashSet<(int I, int J)>>();
        var depths = new List<int>();
        var orders = new List<(int I, int J)[]>();
        var seen = new HashSet<string>();
        string Key(IEnumerable<(int I, int J)> f) => string.Join(";", f.OrderBy(p => p.I).ThenBy(p => p.J).Select(p => $"{p.I},{p.J}"));
        for (int attempt = 0; formulas.Count < nodeCount && attempt < nodeCount * 50; attempt++)
        {
            HashSet<(int I, int J)> f;
            int depth;
            // Grow from an existing node most of the time, but always start with depth-1 nodes.
            if (formulas.Count == 0 || rng.NextDouble() < 0.3)
            {
                f = new HashSet<(int, int)> { (rng.Next(1, maxI + 1), rng.Next(1, maxJ + 1)) };
                depth = 1;
            }
            else
            {
                int from = rng.Next(formulas.Count);
                if (depths[from] >= maxDepth) continue;
                var used = formulas[from].Select(p => p.I).ToHashSet();
                var free = Enumerable.Range(1, maxI).Where(i => !used.Contains(i)).ToList();
                if (free.Count == 0) continue;
                f = new HashSet<(int, int)>(formulas[from]) { (free[rng.Next(free.Count)], rng.Next(1, maxJ + 1)) };
                depth = depths[from] + 1;
            }
            if (!seen.Add(Key(f))) continue;
            formulas.Add(f);
            depths.Add(depth);
            orders.Add(f.OrderBy(_ => rng.Next()).ToArray());
        }
        // Depth order (stable), then parents by the parent rule.
        var order = Enumerable.Range(0, formulas.Count).OrderBy(n => depths[n]).ThenBy(n => n).ToList();
        var nodes = new List<NodeSpec>();
        for (int k = 0; k < order.Count; k++)
        {
            int n = order[k];
            var parents = new List<int>();
            if (depths[n] == 1) parents.Add(0);
            else
                for (int q = 0; q < k; q++)
                    if (depths[order[q]] == depths[n] - 1 && formulas[order[q]].IsSubsetOf(formulas[n])) parents.Add(q + 1);
            nodes.Add(Node(k + 1, depths[n], orders[n], parents.ToArray(), rng.Next(0, 1000)));
        }
        return Graph(name, model, decoding, nodes, keep);
    }

    /// <summary>Writes a spec in the graph file format (the inverse of GraphSpecParser, up to node locations).</summary>
    public static string ToJson(GraphSpec g)
    {
        static string S(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        static string I(long v) => v.ToString(CultureInfo.InvariantCulture);
        static string D(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        var d = g.Decoding;
        var sb = new StringBuilder();
        sb.Append("{\n");
        sb.Append("  \"format\": \"spiffy-graph/1\",\n");
        sb.Append($"  \"name\": {S(g.Name)},\n");
        sb.Append($"  \"model\": {{ \"name\": {S(g.ModelName)}{(g.ModelHash.Length > 0 ? ", \"weights_sha256\": " + S(g.ModelHash) : "")} }},\n");
        sb.Append($"  \"decoding\": {{ \"gen_length\": {I(d.GenLength)}, \"block_length\": {I(d.BlockLength)}, \"steps\": {I(d.Steps)}, "
            + $"\"unmasking\": {S(DecodingNames.Unmasking.Name(d.Unmasking))}, \"confidence\": {S(DecodingNames.Confidence.Name(d.Confidence))}, "
                + $"\"threshold\": {D(d.Threshold)}, \"factor\": {D(d.Factor)}, "
            + $"\"k\": {I(d.K)}, \"temperature\": {D(d.Temperature)}, \"cache\": {S(DecodingNames.Cache.Name(d.Cache))} }},\n");
        sb.Append($"  \"limits\": {{ \"max_position_rank\": {I(g.Limits.MaxPositionRank)}, \"max_token_rank\": {I(g.Limits.MaxTokenRank)}, "
            + $"\"max_depth\": {I(g.Limits.MaxDepth)} }},\n");
        var p = g.Provenance;
        sb.Append($"  \"calibration\": {{ \"calibrated\": {(p.Calibrated ? "true" : "false")}, \"objective\": {S(p.Objective)}, "
            + $"\"prompts\": {S(p.PromptSource)}, "
            + $"\"prompt_count\": {I(p.PromptCount)}, \"steps_observed\": {I(p.StepsObserved)}, \"note\": {S(p.Note)} }},\n");
        sb.Append($"  \"keep\": {I(g.Keep.ToFile())},\n");
        sb.Append("  \"nodes\": [");
        for (int n = 0; n < g.Nodes.Count; n++)
        {
            var node = g.Nodes[n];
            var pairs = string.Join(", ", Enumerable.Range(0, node.PairCount).Select(k => $"[{I(node.PositionRanks[k])}, {I(node.TokenRanks[k])}]"));
            sb.Append(n == 0 ? "\n" : ",\n");
            sb.Append($"    {{ \"id\": {I(node.Id)}, \"depth\": {I(node.Depth)}, \"pairs\": [{pairs}], \"parents\": "
                + $"[{string.Join(", ", node.Parents.Select(x => I(x)))}], \"count\": {I(node.Count)} }}");
        }
        sb.Append(g.Nodes.Count == 0 ? "]\n" : "\n  ]\n");
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>Parses a graph file with the runtime's parser (node locations included), failing on any error.</summary>
    public static GraphSpec Parse(string json, string file = "test.json")
    {
        var errors = new List<SchemaError>();
        var spec = GraphSpecParser.Parse(json, file, errors);
        Assert.True(spec is not null, string.Join("\n", errors));
        return spec!;
    }
}
