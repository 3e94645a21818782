using System.Globalization;
using System.Text;
using Spiffy.Files;
using Spiffy.Checkpoints;
using Spiffy.Schema;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Json;

namespace Spiffy.Calibration;

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
          .Append("\"unmasking\": ").Append(Str(DecodingNames.Unmasking.Name(d.Unmasking))).Append(", \"confidence\": ")
              .Append(Str(DecodingNames.Confidence.Name(d.Confidence)))
          .Append(", \"threshold\": ").Append(Num(d.Threshold)).Append(", \"factor\": ").Append(Num(d.Factor))
          .Append(Inv($", \"k\": {d.K}, \"temperature\": ")).Append(Num(d.Temperature)).Append(", \"cache\": ").Append(Str(DecodingNames.Cache.Name(d.Cache)))
          .Append(", \"schedule\": ").Append(Str(DecodingNames.Schedule.Name(d.Schedule))).Append(", \"eps\": ").Append(Num(d.Eps))
          .Append(", \"block_start\": ").Append(Str(DecodingNames.BlockStart.Name(d.BlockStart))).Append(", \"sampler\": ")
              .Append(Str(DecodingNames.Sampler.Name(d.Sampler)))
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

    private static string Str(string s) => JsonText.Quote(s);
}
