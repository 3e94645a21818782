using System.Collections.Generic;
using System.Text;
using Spiffy.Decoding;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Json;

namespace Spiffy.Schema.Graphs;

/// <summary>
/// Reads and validates a draft graph file. The single definition of the format and its rules
/// (compiled into both the generator and the runtime): nodes are 1..D (0 is the root), each node's
/// parents have depth one less and a strict subset of its pairs and are listed before it, every node reaches the root,
/// ranks are within the declared limits, and no two nodes hold the same formula.
/// </summary>
internal static class GraphSpecParser
{
    public const string FormatId = "spiffy-graph/1";

    /// <summary>Parses a file's raw bytes (invalid UTF-8 is a located error); returns null and fills <paramref name="errors"/> when invalid.</summary>
    public static GraphSpec? Parse(byte[] utf8, string file, List<SchemaError> errors) => Parse(SchemaDocument.Read(utf8, file, errors), file, errors);

    /// <summary>Parses a document's text; returns null and fills <paramref name="errors"/> when invalid.</summary>
    public static GraphSpec? Parse(string text, string file, List<SchemaError> errors) => Parse(SchemaDocument.Read(text, file, errors), file, errors);

    /// <summary>Parses a document's JSON root (null: it could not be read, the error is already recorded).</summary>
    public static GraphSpec? Parse(JsonNode? root, string file, List<SchemaError> errors)
    {
        if (root is null) return null;
        if (root is not JsonObject obj)
        {
            errors.Add(new SchemaError(SchemaErrorKind.WrongType, file, root.Line, root.Column, "", $"a draft graph is a JSON object, found {root.KindName}"));
            return null;
        }
        int before = errors.Count;
        var r = new FieldReader(obj, file, "", errors);
        var format = r.String("format");
        if (format is not null && format != FormatId)
            r.Error(SchemaErrorKind.InvalidValue, obj.Get("format")!, "format", $"unsupported format \"{format}\" (this version reads \"{FormatId}\")");
        string? name = r.String("name");

        string modelName = "", modelHash = "";
        var model = r.Object("model");
        if (model is not null)
        {
            modelName = model.String("name") ?? "";
            modelHash = model.String("weights_sha256", required: false) ?? "";
            model.RejectUnknown();
        }

        GraphDecoding? decoding = null;
        var dec = r.Object("decoding");
        if (dec is not null)
        {
            int beforeDecoding = errors.Count;
            int gen = dec.Int("gen_length") ?? 0;
            int block = dec.Int("block_length") ?? 0;
            int steps = dec.Int("steps") ?? 0;
            var unmasking = dec.Choice("unmasking", DecodingNames.Unmasking) ?? UnmaskingRule.Schedule;
            var confidence = dec.Choice("confidence", DecodingNames.Confidence) ?? ConfidenceKind.Probability;
            double tau = dec.Number("threshold", required: false) ?? 0.9;
            double factor = dec.Number("factor", required: false) ?? 1.0;
            int k = dec.Int("k", required: false) ?? 1;
            double temperature = dec.Number("temperature", required: false) ?? 0;
            var cache = dec.Choice("cache", DecodingNames.Cache, required: false) ?? CacheMode.None;
            var schedule = dec.Choice("schedule", DecodingNames.Schedule, required: false) ?? ScheduleKind.Even;
            double eps = dec.Number("eps", required: false) ?? GraphDecoding.DefaultEps;
            var blockStart = dec.Choice("block_start", DecodingNames.BlockStart, required: false) ?? BlockStartRule.Step;
            var sampler = dec.Choice("sampler", DecodingNames.Sampler, required: false) ?? SamplerKind.Gumbel;
            int topK = dec.Int("top_k", required: false) ?? 0;
            double topP = dec.Number("top_p", required: false) ?? 1.0;
            double algTemp = dec.Number("alg_temp", required: false) ?? 0;
            bool overfull = dec.Bool("overfull_top_k", required: false) ?? false;
            dec.RejectUnknown();
            decoding = new GraphDecoding(gen, block, steps, unmasking, confidence, tau, factor, k, temperature, cache, schedule, eps, blockStart,
                sampler, topK, topP, algTemp, overfull);
            if (errors.Count == beforeDecoding)
            {
                // Values and cross-field rules: one home (DecodingRules), reported at the offending field.
                var rules = new List<DecodingRuleError>();
                DecodingRules.Check(decoding, rules);
                foreach (var e in rules) dec.Error(e.Kind, dec.Node.Get(e.Field) ?? dec.Node, dec.PathOf(e.Field), e.Message);
            }
        }

        GraphLimits? limits = null;
        var lim = r.Object("limits");
        if (lim is not null)
        {
            int i = lim.Int("max_position_rank", min: 1, max: 4096) ?? 1;
            int j = lim.Int("max_token_rank", min: 1, max: 4096) ?? 1;
            int d = lim.Int("max_depth", min: 1, max: 4096) ?? 1;
            lim.RejectUnknown();
            limits = new GraphLimits(i, j, d);
        }

        var provenance = new GraphProvenance(false, "", "", 0, 0, "");
        var prov = r.Object("calibration", required: false);
        if (prov is not null)
        {
            provenance = new GraphProvenance(
                prov.Bool("calibrated") ?? false,
                prov.String("objective", required: false) ?? "",
                prov.String("prompts", required: false) ?? "",
                prov.Int("prompt_count", required: false, min: 0) ?? 0,
                prov.Integer("steps_observed", required: false, min: 0) ?? 0,
                prov.String("note", required: false) ?? "",
                ReadKeepProfile(prov, errors));
            prov.RejectUnknown();
        }
        // 0 keeps every node: the file's spelling of DraftKeep.All, kept for existing graphs.
        var keep = DraftKeep.FromFile(r.Int("keep", required: false, min: 0) ?? 0);

        var nodes = new List<NodeSpec>();
        var nodeObjects = new List<JsonNode>(); // where each node stands, for Validate's messages only
        var arr = r.Array("nodes");
        if (arr is not null)
        {
            for (int n = 0; n < arr.Items.Count; n++)
            {
                string path = $"nodes[{n}]";
                if (arr.Items[n] is not JsonObject nodeObj)
                {
                    r.Error(SchemaErrorKind.WrongType, arr.Items[n], path, $"expected a node object, found {arr.Items[n].KindName}");
                    continue;
                }
                var nr = new FieldReader(nodeObj, file, path, errors);
                int? id = nr.Int("id", min: 1);
                int? depth = nr.Int("depth", min: 1);
                long count = nr.Integer("count", required: false, min: 0) ?? 0;
                var pairs = ReadPairs(nr, path);
                var parents = ReadInts(nr, "parents", path);
                nr.RejectUnknown();
                if (id is null || depth is null || pairs is null || parents is null) continue;
                nodes.Add(NodeSpec.Create(id.Value, depth.Value, pairs.Value.pos, pairs.Value.tok, parents, count));
                nodeObjects.Add(nodeObj);
            }
        }
        r.RejectUnknown();
        if (errors.Count > before || decoding is null || limits is null) return null;
        var spec = new GraphSpec(name!, modelName, modelHash, decoding, limits, provenance, keep, new EquatableArray<NodeSpec>(nodes.ToArray()));
        Validate(spec, file, errors, nodeObjects);
        return errors.Count > before ? null : spec;
    }

    /// <summary>Optional <c>calibration.keep_profile</c>: [{ "keep", "step_forwards", "rows" }], keeps distinct and ascending.</summary>
    private static EquatableArray<KeepCost> ReadKeepProfile(FieldReader prov, List<SchemaError> errors)
    {
        var arr = prov.Array("keep_profile", required: false);
        if (arr is null) return EquatableArray<KeepCost>.Empty;
        var items = new List<KeepCost>();
        for (int i = 0; i < arr.Items.Count; i++)
        {
            string path = $"calibration.keep_profile[{i}]";
            if (arr.Items[i] is not JsonObject o)
            {
                prov.Error(SchemaErrorKind.WrongType, arr.Items[i], path, $"expected an object, found {arr.Items[i].KindName}");
                continue;
            }
            var kr = new FieldReader(o, prov.File, path, errors);
            int? keep = kr.Int("keep", min: 0);
            long? forwards = kr.Integer("step_forwards", min: 0);
            long? rows = kr.Integer("rows", min: 0);
            kr.RejectUnknown();
            if (keep is null || forwards is null || rows is null) continue;
            if (items.Count > 0 && keep.Value <= items[^1].Keep)
                kr.Error(SchemaErrorKind.InvalidValue, o, path + ".keep", $"keep values must increase (found {keep.Value} after {items[^1].Keep})");
            else if (rows.Value < forwards.Value)
                kr.Error(SchemaErrorKind.InvalidValue, o, path + ".rows",
                    $"rows ({rows.Value}) cannot be fewer than step forwards ({forwards.Value}): every forward carries its state row");
            else items.Add(new KeepCost(keep.Value, forwards.Value, rows.Value));
        }
        return new EquatableArray<KeepCost>(items.ToArray());
    }

    private static (int[] pos, int[] tok)? ReadPairs(FieldReader nr, string path)
    {
        var arr = nr.Array("pairs");
        if (arr is null) return null;
        var pos = new int[arr.Items.Count];
        var tok = new int[arr.Items.Count];
        bool ok = true;
        for (int p = 0; p < arr.Items.Count; p++)
        {
            if (arr.Items[p] is JsonArray pair && pair.Items.Count == 2 && pair.Items[0] is JsonNumber a && pair.Items[1] is JsonNumber b
                && a.IsInteger && b.IsInteger && a.TryGetInt64(out long i) && b.TryGetInt64(out long j) && i >= 1 && j >= 1 && i <= 1 << 20 && j <= 1 << 20)
            {
                pos[p] = (int)i;
                tok[p] = (int)j;
            }
            else
            {
                nr.Error(SchemaErrorKind.WrongType, arr.Items[p], $"{path}.pairs[{p}]", "a pair is [position rank, token rank], two integers >= 1");
                ok = false;
            }
        }
        if (arr.Items.Count == 0) { nr.Error(SchemaErrorKind.InvalidValue, arr, path + ".pairs", "a draft node needs at least one pair"); ok = false; }
        return ok ? (pos, tok) : null;
    }

    private static int[]? ReadInts(FieldReader nr, string key, string path)
    {
        var arr = nr.Array(key);
        if (arr is null) return null;
        var result = new int[arr.Items.Count];
        for (int p = 0; p < arr.Items.Count; p++)
        {
            if (arr.Items[p] is JsonNumber n && n.IsInteger && n.TryGetInt64(out long v) && v >= 0 && v <= int.MaxValue) result[p] = (int)v;
            else { nr.Error(SchemaErrorKind.WrongType, arr.Items[p], $"{path}.{key}[{p}]", "expected a node id (integer >= 0; 0 is the root)"); return null; }
        }
        return result;
    }

    /// <summary>Structural rules; errors name the node by id and point at its object. The parent rule is <see cref="GraphTopology"/>'s.</summary>
    public static void Validate(GraphSpec g, string file, List<SchemaError> errors) => Validate(g, file, errors, null);

    /// <summary>As <see cref="Validate(GraphSpec, string, List{SchemaError})"/>, locating each node's errors at its JSON object when known.</summary>
    private static void Validate(GraphSpec g, string file, List<SchemaError> errors, IReadOnlyList<JsonNode>? nodeObjects)
    {
        int LineOf(int n) => nodeObjects is not null && n < nodeObjects.Count ? nodeObjects[n].Line : 0;
        int ColumnOf(int n) => nodeObjects is not null && n < nodeObjects.Count ? nodeObjects[n].Column : 0;
        var byId = new Dictionary<int, NodeSpec>();
        var formulas = new Dictionary<string, int>();
        for (int n = 0; n < g.Nodes.Count; n++)
        {
            var node = g.Nodes[n];
            void Err(SchemaErrorKind kind, string msg) =>
                errors.Add(new SchemaError(kind, file, LineOf(n), ColumnOf(n), $"nodes[{n}]", $"node {node.Id}: {msg}"));
            if (node.Id != n + 1) Err(SchemaErrorKind.InvalidValue, $"ids must be 1, 2, ... in order (expected {n + 1})");
            if (byId.ContainsKey(node.Id)) { Err(SchemaErrorKind.InvalidValue, "duplicate id"); continue; }
            byId[node.Id] = node;
            if (node.Depth > g.Limits.MaxDepth) Err(SchemaErrorKind.RankOutOfRange, $"depth {node.Depth} exceeds max_depth {g.Limits.MaxDepth}");
            if (node.PairCount < node.Depth)
                Err(SchemaErrorKind.GraphParentRule, $"{node.PairCount} pairs cannot be {node.Depth} steps ahead (each step commits at least one token)");
            var seenPositions = new HashSet<int>();
            for (int p = 0; p < node.PairCount; p++)
            {
                if (node.PositionRanks[p] > g.Limits.MaxPositionRank)
                    Err(SchemaErrorKind.RankOutOfRange, $"position rank {node.PositionRanks[p]} exceeds max_position_rank {g.Limits.MaxPositionRank}");
                if (node.TokenRanks[p] > g.Limits.MaxTokenRank)
                    Err(SchemaErrorKind.RankOutOfRange, $"token rank {node.TokenRanks[p]} exceeds max_token_rank {g.Limits.MaxTokenRank}");
                if (!seenPositions.Add(node.PositionRanks[p]))
                    Err(SchemaErrorKind.InvalidValue, $"position rank {node.PositionRanks[p]} appears twice (a position holds one token)");
            }
            string key = GraphTopology.FormulaKey(node);
            if (formulas.TryGetValue(key, out int other)) Err(SchemaErrorKind.InvalidValue, $"same formula as node {other}");
            else formulas[key] = node.Id;
        }
        // What the rule says each node's parents are (file ids; 0 for the root).
        var derived = GraphTopology.DeriveParents(g.Nodes);
        for (int n = 0; n < g.Nodes.Count; n++)
        {
            var node = g.Nodes[n];
            void Err(SchemaErrorKind kind, string msg) =>
                errors.Add(new SchemaError(kind, file, LineOf(n), ColumnOf(n), $"nodes[{n}]", $"node {node.Id}: {msg}"));
            if (node.Parents.Count == 0) { Err(SchemaErrorKind.GraphNotRootConnected, "has no parent (list 0 for a child of the root)"); continue; }
            var seenParents = new HashSet<int>();
            foreach (int pid in node.Parents)
            {
                if (!seenParents.Add(pid)) { Err(SchemaErrorKind.InvalidValue, $"parent {pid} is listed twice"); continue; }
                // Speculators visit nodes in file order and need every parent decided before its children.
                if (pid >= node.Id && byId.ContainsKey(pid))
                    Err(SchemaErrorKind.GraphParentRule, $"parent {pid} must be listed before node {node.Id} (list nodes in order of depth)");
                if (pid == 0)
                {
                    if (node.Depth != 1) Err(SchemaErrorKind.GraphParentRule, $"only depth-1 nodes are children of the root (depth {node.Depth})");
                    continue;
                }
                if (!byId.TryGetValue(pid, out var parent)) { Err(SchemaErrorKind.GraphNotRootConnected, $"parent {pid} does not exist"); continue; }
                if (parent.Depth != node.Depth - 1) Err(SchemaErrorKind.GraphParentRule, $"parent {pid} has depth {parent.Depth}, expected {node.Depth - 1}");
                if (!GraphTopology.IsStrictSubset(GraphTopology.SortedPairs(parent), GraphTopology.SortedPairs(node)))
                    Err(SchemaErrorKind.GraphParentRule, $"parent {pid}'s pairs are not a strict subset of this node's pairs");
            }
            // The listed parents must be all of them: the walk follows these edges only.
            foreach (int other in derived[n])
            {
                if (other > 0 && !seenParents.Contains(other))
                    Err(SchemaErrorKind.GraphParentRule, $"node {other} satisfies the parent rule but is not listed among the parents");
            }
        }
    }
}
