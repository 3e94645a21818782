using System.Globalization;
using System.Text;
using Spiffy.Files;
using Spiffy.Checkpoints;
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
            var parents = new List<int>();
            if (dag.Depth(id) == 1) parents.Add(0);
            for (int p = 0; p < n; p++)
                if (dag.Depth(order[p]) == dag.Depth(id) - 1 && FormulaTable.IsStrictSubset(dag.Pairs(order[p]), pairs)) parents.Add(p + 1);
            var pos = new int[pairs.Length];
            var tok = new int[pairs.Length];
            for (int k = 0; k < pairs.Length; k++) { pos[k] = FormulaTable.PositionRank(pairs[k]); tok[k] = FormulaTable.TokenRank(pairs[k]); }
            nodes[n] = new NodeSpec(n + 1, dag.Depth(id), new EquatableArray<int>(pos), new EquatableArray<int>(tok),
                new EquatableArray<int>(parents.ToArray()), dag.Count(id), 0, 0);
        }
        return new GraphSpec(name, modelName, modelHash, decoding, limits, provenance, keep, new EquatableArray<NodeSpec>(nodes));
    }
}

/// <summary>
/// Writes graph files (docs/graph-schema.md) byte-for-byte deterministically: fixed field order,
/// one node per line, culture-invariant shortest round-trip numbers, '\n' line ends, UTF-8 without
/// BOM. The graph is validated first and the text re-parsed before the atomic write.
/// </summary>
public static class GraphFileWriter
{
    /// <summary>The file text of <paramref name="g"/> (not validated: <see cref="Write"/> validates).</summary>
    /// <param name="g">The graph.</param>
    public static string ToJson(GraphSpec g)
    {
        var sb = new StringBuilder();
        var d = g.Decoding;
        var l = g.Limits;
        var p = g.Provenance;
        sb.Append("{\n");
        Field(sb, "format", Str(GraphSpecParser.FormatId));
        Field(sb, "name", Str(g.Name));
        sb.Append("  \"model\": { \"name\": ").Append(Str(g.ModelName));
        if (g.ModelHash.Length > 0) sb.Append(", \"weights_sha256\": ").Append(Str(g.ModelHash));
        sb.Append(" },\n");
        sb.Append(Inv($"  \"decoding\": {{ \"gen_length\": {d.GenLength}, \"block_length\": {d.BlockLength}, \"steps\": {d.Steps}, "))
          .Append("\"unmasking\": ").Append(Str(d.Unmasking)).Append(", \"confidence\": ").Append(Str(d.Confidence))
          .Append(", \"threshold\": ").Append(Num(d.Threshold)).Append(", \"factor\": ").Append(Num(d.Factor))
          .Append(Inv($", \"k\": {d.K}, \"temperature\": ")).Append(Num(d.Temperature)).Append(", \"cache\": ").Append(Str(d.Cache))
          .Append(", \"schedule\": ").Append(Str(d.Schedule)).Append(", \"eps\": ").Append(Num(d.Eps))
          .Append(", \"block_start\": ").Append(Str(d.BlockStart)).Append(", \"sampler\": ").Append(Str(d.Sampler))
          .Append(Inv($", \"top_k\": {d.TopK}, \"top_p\": ")).Append(Num(d.TopP))
          .Append(", \"alg_temp\": ").Append(Num(d.AlgTemp)).Append(", \"overfull_top_k\": ").Append(d.OverfullTopK ? "true" : "false").Append(" },\n");
        sb.Append(Inv($"  \"limits\": {{ \"max_position_rank\": {l.MaxPositionRank}, \"max_token_rank\": {l.MaxTokenRank}, \"max_depth\": {l.MaxDepth} }},\n"));
        sb.Append("  \"calibration\": {\n");
        sb.Append("    \"calibrated\": ").Append(p.Calibrated ? "true" : "false").Append(",\n");
        sb.Append("    \"objective\": ").Append(Str(p.Objective)).Append(",\n");
        sb.Append("    \"prompts\": ").Append(Str(p.PromptSource)).Append(",\n");
        sb.Append(Inv($"    \"prompt_count\": {p.PromptCount},\n"));
        sb.Append(Inv($"    \"steps_observed\": {p.StepsObserved},\n"));
        sb.Append("    \"note\": ").Append(Str(p.Note));
        if (p.KeepProfile.Count > 0)
        {
            sb.Append(",\n    \"keep_profile\": [");
            for (int i = 0; i < p.KeepProfile.Count; i++)
            {
                var k = p.KeepProfile[i];
                sb.Append(i == 0 ? "\n" : ",\n").Append(Inv($"      {{ \"keep\": {k.Keep}, \"step_forwards\": {k.StepForwards}, \"rows\": {k.Rows} }}"));
            }
            sb.Append("\n    ]");
        }
        sb.Append('\n');
        sb.Append("  },\n");
        sb.Append(Inv($"  \"keep\": {g.Keep.ToFile()},\n"));
        sb.Append("  \"nodes\": [");
        for (int n = 0; n < g.Nodes.Count; n++)
        {
            var node = g.Nodes[n];
            sb.Append(n == 0 ? "\n" : ",\n");
            sb.Append(Inv($"    {{ \"id\": {node.Id}, \"depth\": {node.Depth}, \"pairs\": ["));
            for (int k = 0; k < node.PairCount; k++) sb.Append(Inv($"{(k > 0 ? ", " : "")}[{node.PositionRanks[k]}, {node.TokenRanks[k]}]"));
            sb.Append("], \"parents\": [");
            for (int k = 0; k < node.Parents.Count; k++) sb.Append(Inv($"{(k > 0 ? ", " : "")}{node.Parents[k]}"));
            sb.Append(Inv($"], \"count\": {node.Count} }}"));
        }
        sb.Append(g.Nodes.Count == 0 ? "]\n" : "\n  ]\n");
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>Validates, serialises, re-parses and atomically writes <paramref name="g"/> to <paramref name="path"/>.</summary>
    /// <param name="g">The graph.</param>
    /// <param name="path">The file (<c>graphs/*.json</c>).</param>
    /// <exception cref="SchemaException">The graph is invalid.</exception>
    public static void Write(GraphSpec g, string path)
    {
        string text = Checked(g, path);
        AtomicFile.WriteAllText(path, text);
    }

    /// <summary>The file text after checking that it is valid and reads back as the same graph.</summary>
    internal static string Checked(GraphSpec g, string file)
    {
        var errors = new List<SchemaError>();
        GraphSpecParser.Validate(g, file, errors);
        if (errors.Count > 0) throw new SchemaException(errors);
        string text = ToJson(g);
        var back = GraphSpecParser.Parse(text, file, errors);
        if (back is null || errors.Count > 0) throw new SchemaException(errors);
        if (back.Nodes.Count != g.Nodes.Count || back.Decoding != g.Decoding || back.Limits != g.Limits || back.Keep != g.Keep)
            throw new InvalidOperationException($"{file}: the written graph does not read back as itself");
        return text;
    }

    private static void Field(StringBuilder sb, string key, string value) => sb.Append("  \"").Append(key).Append("\": ").Append(value).Append(",\n");

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>Shortest round-trip form ("0.9", "1", "1E-05"), always culture-invariant.</summary>
    internal static string Num(double v)
    {
        if (double.IsNaN(v) || double.IsInfinity(v)) throw new ArgumentException("graph files hold finite numbers only");
        return v.ToString("R", CultureInfo.InvariantCulture);
    }

    /// <summary>A JSON string literal: quotes, backslashes and control characters escaped; everything else verbatim.</summary>
    internal static string Str(string s)
    {
        var sb = new StringBuilder(s.Length + 2);
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
