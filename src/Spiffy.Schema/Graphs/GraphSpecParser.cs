using System.Collections.Generic;
using System.Text;
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
    public static readonly string[] UnmaskingRules = { "schedule", "threshold", "factor", "dynamic_top_k", "origin" };
    public static readonly string[] ConfidenceKinds = { "probability", "random", "margin", "negative_entropy" };
    public static readonly string[] CacheModes = { "none", "prefix", "dual" };
    public static readonly string[] Schedules = { "even", "timesteps" };
    public static readonly string[] BlockStarts = { "step", "first_position" };
    public static readonly string[] Samplers = { "gumbel", "masked_categorical", "block_multinomial" };

    /// <summary>Parses a file's raw bytes: invalid UTF-8 is a located error, not silently replaced.</summary>
    public static GraphSpec? Parse(byte[] utf8, string file, List<SchemaError> errors)
    {
        string text;
        try { text = Utf8Text.Decode(utf8); }
        catch (JsonSyntaxException e)
        {
            errors.Add(new SchemaError(SchemaErrorKind.MalformedJson, file, e.Line, e.Column, "", e.Message));
            return null;
        }
        return Parse(text, file, errors);
    }

    public static GraphSpec? Parse(string text, string file, List<SchemaError> errors)
    {
        JsonNode root;
        try { root = JsonReader.Parse(text); }
        catch (JsonSyntaxException e)
        {
            errors.Add(new SchemaError(SchemaErrorKind.MalformedJson, file, e.Line, e.Column, "", e.Message));
            return null;
        }
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
            int gen = dec.Int("gen_length", min: 1) ?? 0;
            int block = dec.Int("block_length", min: 1) ?? 0;
            int steps = dec.Int("steps", min: 0) ?? 0;
            string unmasking = dec.Choice("unmasking", UnmaskingRules) ?? "";
            string confidence = dec.Choice("confidence", ConfidenceKinds) ?? "";
            double tau = dec.Number("threshold", required: false, min: 0, max: 1, minExclusive: true) ?? 0.9;
            double factor = dec.Number("factor", required: false, min: 0, max: 1e6, minExclusive: true) ?? 1.0;
            int k = dec.Int("k", required: false, min: 1) ?? 1;
            double temperature = dec.Number("temperature", required: false, min: 0, max: 1e6) ?? 0;
            string cache = dec.Choice("cache", CacheModes, required: false) ?? "none";
            string schedule = dec.Choice("schedule", Schedules, required: false) ?? GraphDecoding.EvenSchedule;
            double eps = dec.Number("eps", required: false, min: 0, max: 1, minExclusive: true) ?? GraphDecoding.DefaultEps;
            string blockStart = dec.Choice("block_start", BlockStarts, required: false) ?? GraphDecoding.StepBlockStart;
            string sampler = dec.Choice("sampler", Samplers, required: false) ?? GraphDecoding.GumbelSampler;
            int topK = dec.Int("top_k", required: false, min: 0) ?? 0;
            double topP = dec.Number("top_p", required: false, min: 0, max: 1, minExclusive: true) ?? 1.0;
            double algTemp = dec.Number("alg_temp", required: false, min: 0, max: 1e6) ?? 0;
            bool overfull = dec.Bool("overfull_top_k", required: false) ?? false;
            dec.RejectUnknown();
            if (algTemp > 0 && (sampler != "masked_categorical" || unmasking != "schedule"))
                dec.Error(SchemaErrorKind.ContradictoryValues, dec.Node.Get("alg_temp")!, "decoding.alg_temp",
                    "alg_temp draws the positions of a schedule step (Dream): it needs sampler masked_categorical and unmasking schedule");
            if (sampler == "masked_categorical" && temperature > 0 && unmasking != "schedule")
                dec.Error(SchemaErrorKind.ContradictoryValues, dec.Node.Get("sampler")!, "decoding.sampler",
                    "the masked_categorical sampler at temperature > 0 needs unmasking schedule (its draws follow the schedule's mask counts)");
            if (sampler == GraphDecoding.GumbelSampler && (topK != 0 || topP != 1))
                dec.Error(SchemaErrorKind.ContradictoryValues, (dec.Node.Get("top_k") ?? dec.Node.Get("top_p"))!, topK != 0 ? "decoding.top_k" : "decoding.top_p",
                    "top_k / top_p filter a categorical draw (sampler masked_categorical or block_multinomial); the gumbel sampler has none");
            if (eps >= 1)
                dec.Error(SchemaErrorKind.InvalidValue, dec.Node.Get("eps")!, "decoding.eps", $"eps must be below 1 (the timesteps run from 1 down to eps)");
            if (gen > 0 && block > 0 && gen % block != 0)
                dec.Error(SchemaErrorKind.ContradictoryValues, dec.Node.Get("block_length")!, "decoding.block_length", $"block length {block} does not divide the generation length {gen}");
            decoding = new GraphDecoding(gen, block, steps, unmasking, confidence, tau, factor, k, temperature, cache, schedule, eps, blockStart, sampler, topK, topP, algTemp, overfull);
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
                nodes.Add(new NodeSpec(id.Value, depth.Value, new EquatableArray<int>(pairs.Value.pos), new EquatableArray<int>(pairs.Value.tok),
                    new EquatableArray<int>(parents), count, nodeObj.Line, nodeObj.Column));
            }
        }
        r.RejectUnknown();
        if (errors.Count > before || decoding is null || limits is null) return null;
        var spec = new GraphSpec(name!, modelName, modelHash, decoding, limits, provenance, keep, new EquatableArray<NodeSpec>(nodes.ToArray()));
        Validate(spec, file, errors);
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
                kr.Error(SchemaErrorKind.InvalidValue, o, path + ".rows", $"rows ({rows.Value}) cannot be fewer than step forwards ({forwards.Value}): every forward carries its state row");
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

    /// <summary>Structural rules; errors name the node by id and point at its object.</summary>
    public static void Validate(GraphSpec g, string file, List<SchemaError> errors)
    {
        var byId = new Dictionary<int, NodeSpec>();
        var formulas = new Dictionary<string, int>();
        for (int n = 0; n < g.Nodes.Count; n++)
        {
            var node = g.Nodes[n];
            void Err(SchemaErrorKind kind, string msg) => errors.Add(new SchemaError(kind, file, node.Line, node.Column, $"nodes[{n}]", $"node {node.Id}: {msg}"));
            if (node.Id != n + 1) Err(SchemaErrorKind.InvalidValue, $"ids must be 1, 2, ... in order (expected {n + 1})");
            if (byId.ContainsKey(node.Id)) { Err(SchemaErrorKind.InvalidValue, "duplicate id"); continue; }
            byId[node.Id] = node;
            if (node.Depth > g.Limits.MaxDepth) Err(SchemaErrorKind.RankOutOfRange, $"depth {node.Depth} exceeds max_depth {g.Limits.MaxDepth}");
            if (node.PairCount < node.Depth) Err(SchemaErrorKind.GraphParentRule, $"{node.PairCount} pairs cannot be {node.Depth} steps ahead (each step commits at least one token)");
            var seenPositions = new HashSet<int>();
            for (int p = 0; p < node.PairCount; p++)
            {
                if (node.PositionRanks[p] > g.Limits.MaxPositionRank) Err(SchemaErrorKind.RankOutOfRange, $"position rank {node.PositionRanks[p]} exceeds max_position_rank {g.Limits.MaxPositionRank}");
                if (node.TokenRanks[p] > g.Limits.MaxTokenRank) Err(SchemaErrorKind.RankOutOfRange, $"token rank {node.TokenRanks[p]} exceeds max_token_rank {g.Limits.MaxTokenRank}");
                if (!seenPositions.Add(node.PositionRanks[p])) Err(SchemaErrorKind.InvalidValue, $"position rank {node.PositionRanks[p]} appears twice (a position holds one token)");
            }
            string key = FormulaKey(node);
            if (formulas.TryGetValue(key, out int other)) Err(SchemaErrorKind.InvalidValue, $"same formula as node {other}");
            else formulas[key] = node.Id;
        }
        var byDepth = new Dictionary<int, List<NodeSpec>>();
        foreach (var node in g.Nodes)
        {
            if (!byDepth.TryGetValue(node.Depth, out var level)) byDepth[node.Depth] = level = new List<NodeSpec>();
            level.Add(node);
        }
        foreach (var node in g.Nodes)
        {
            int n = node.Id - 1;
            void Err(SchemaErrorKind kind, string msg) => errors.Add(new SchemaError(kind, file, node.Line, node.Column, $"nodes[{n}]", $"node {node.Id}: {msg}"));
            if (node.Parents.Count == 0) { Err(SchemaErrorKind.GraphNotRootConnected, "has no parent (list 0 for a child of the root)"); continue; }
            var seenParents = new HashSet<int>();
            foreach (int pid in node.Parents)
            {
                if (!seenParents.Add(pid)) { Err(SchemaErrorKind.InvalidValue, $"parent {pid} is listed twice"); continue; }
                // Speculators visit nodes in file order and need every parent decided before its children.
                if (pid >= node.Id && byId.ContainsKey(pid)) Err(SchemaErrorKind.GraphParentRule, $"parent {pid} must be listed before node {node.Id} (list nodes in order of depth)");
                if (pid == 0)
                {
                    if (node.Depth != 1) Err(SchemaErrorKind.GraphParentRule, $"only depth-1 nodes are children of the root (depth {node.Depth})");
                    continue;
                }
                if (!byId.TryGetValue(pid, out var parent)) { Err(SchemaErrorKind.GraphNotRootConnected, $"parent {pid} does not exist"); continue; }
                if (parent.Depth != node.Depth - 1) Err(SchemaErrorKind.GraphParentRule, $"parent {pid} has depth {parent.Depth}, expected {node.Depth - 1}");
                if (!IsStrictSubset(parent, node)) Err(SchemaErrorKind.GraphParentRule, $"parent {pid}'s pairs are not a strict subset of this node's pairs");
            }
            // The listed parents must be all of them: the walk follows these edges only.
            foreach (var other in ParentCandidates(node, byDepth, formulas, byId))
            {
                if (!seenParents.Contains(other.Id)) Err(SchemaErrorKind.GraphParentRule, $"node {other.Id} satisfies the parent rule but is not listed among the parents");
            }
        }
    }

    /// <summary>
    /// Every node one level up whose pairs are a strict subset of <paramref name="node"/>'s, in id order.
    /// Scanning the whole level for every node is quadratic (a 100,000-node graph took minutes), so
    /// when the node has few pairs its subsets are enumerated and looked up by formula instead; the
    /// cheaper of the two is used.
    /// </summary>
    private static List<NodeSpec> ParentCandidates(NodeSpec node, Dictionary<int, List<NodeSpec>> byDepth,
        Dictionary<string, int> formulas, Dictionary<int, NodeSpec> byId)
    {
        var found = new List<NodeSpec>();
        if (!byDepth.TryGetValue(node.Depth - 1, out var level)) return found;
        int k = node.PairCount, minSize = 1;
        double subsets = 0;
        for (int size = minSize; size < k && subsets <= level.Count; size++) subsets += Binomial(k, size);
        if (subsets > level.Count)
        {
            foreach (var other in level)
                if (IsStrictSubset(other, node)) found.Add(other);
            return found;
        }
        var sorted = SortedPairs(node);
        var pick = new int[k];
        for (int size = minSize; size < k; size++)
        {
            // Index combinations of 'size' out of k, in lexicographic order.
            for (int i = 0; i < size; i++) pick[i] = i;
            while (true)
            {
                var sb = new StringBuilder();
                for (int i = 0; i < size; i++) sb.Append(sorted[pick[i]]).Append(';');
                if (formulas.TryGetValue(sb.ToString(), out int id) && byId.TryGetValue(id, out var other) && other.Depth == node.Depth - 1) found.Add(other);
                int j = size - 1;
                while (j >= 0 && pick[j] == k - size + j) j--;
                if (j < 0) break;
                pick[j]++;
                for (int i = j + 1; i < size; i++) pick[i] = pick[i - 1] + 1;
            }
        }
        found.Sort((a, b) => a.Id.CompareTo(b.Id));
        return found;
    }

    private static double Binomial(int n, int r)
    {
        double c = 1;
        for (int i = 1; i <= r; i++) c = c * (n - r + i) / i;
        return c;
    }

    private static List<long> SortedPairs(NodeSpec node)
    {
        var pairs = new List<long>(node.PairCount);
        for (int p = 0; p < node.PairCount; p++) pairs.Add(((long)node.PositionRanks[p] << 32) | (uint)node.TokenRanks[p]);
        pairs.Sort();
        return pairs;
    }

    /// <summary>A canonical text of a node's pair set (sorted), for duplicate detection.</summary>
    public static string FormulaKey(NodeSpec node)
    {
        var sb = new StringBuilder();
        foreach (var v in SortedPairs(node)) sb.Append(v).Append(';');
        return sb.ToString();
    }

    private static bool IsStrictSubset(NodeSpec a, NodeSpec b)
    {
        if (a.PairCount >= b.PairCount) return false;
        for (int i = 0; i < a.PairCount; i++)
        {
            bool found = false;
            for (int j = 0; j < b.PairCount && !found; j++)
                found = a.PositionRanks[i] == b.PositionRanks[j] && a.TokenRanks[i] == b.TokenRanks[j];
            if (!found) return false;
        }
        return true;
    }
}
