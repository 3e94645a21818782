using System.Collections.Generic;
using Spiffy.Decoding;
using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Json;

namespace Spiffy.Schema.Models;

/// <summary>
/// Turns a model description (JSON) into a <see cref="ModelSpec"/> and checks it. The single
/// definition of the format: the generator and the runtime both compile this file.
/// </summary>
internal static class ModelSpecParser
{
    public const string FormatId = "spiffy-model/1";
    public static readonly string[] Families = { "llada", "dream", "sdar" };
    public static readonly string[] DTypes = { "float32", "bfloat16", "float16" };
    public static readonly string[] AttentionKinds = { "bidirectional", "block_causal" };
    public static readonly string[] ChatTemplates = { "none", "llada", "qwen", "question" };

    /// <summary>Parses a file's raw bytes (invalid UTF-8 is a located error); returns null and fills <paramref name="errors"/> when invalid.</summary>
    public static ModelSpec? Parse(byte[] utf8, string file, List<SchemaError> errors) => Parse(SchemaDocument.Read(utf8, file, errors), file, errors);

    /// <summary>Parses a document's text; returns null and fills <paramref name="errors"/> when invalid.</summary>
    public static ModelSpec? Parse(string text, string file, List<SchemaError> errors) => Parse(SchemaDocument.Read(text, file, errors), file, errors);

    /// <summary>Parses a document's JSON root (null: it could not be read, the error is already recorded).</summary>
    public static ModelSpec? Parse(JsonNode? root, string file, List<SchemaError> errors)
    {
        if (root is null) return null;
        int before = errors.Count;
        if (root is not JsonObject obj)
        {
            errors.Add(new SchemaError(SchemaErrorKind.WrongType, file, root.Line, root.Column, "",
                $"a model description is a JSON object, found {root.KindName}"));
            return null;
        }
        var r = new FieldReader(obj, file, "", errors);
        var format = r.String("format");
        if (format is not null && format != FormatId)
            r.Error(SchemaErrorKind.InvalidValue, obj.Get("format")!, "format", $"unsupported format \"{format}\" (this version reads \"{FormatId}\")");
        string? name = r.String("name");
        string? family = r.Choice("family", Families);
        int? hidden = r.Int("hidden_size", min: 1);
        int? layers = r.Int("num_layers", min: 1);
        int? heads = r.Int("num_heads", min: 1);
        int? kvHeads = r.Int("num_kv_heads", min: 1);
        int? headDim = r.Int("head_dim", min: 2);
        int? mlp = r.Int("intermediate_size", min: 1);
        int? vocab = r.Int("vocab_size", min: 2);
        int? maxLen = r.Int("max_sequence_length", min: 2);
        double? theta = r.Number("rope_theta", min: 0, minExclusive: true);
        double? eps = r.Number("rms_norm_eps", min: 0, max: 1, minExclusive: true);
        bool? qkvBias = r.Bool("qkv_bias");
        bool? qkNorm = r.Bool("qk_norm");
        int? shift = r.Int("logit_shift", min: 0, max: 1);
        bool? tie = r.Bool("tie_embeddings");
        string? dtype = r.Choice("dtype", DTypes);
        string checkpoint = r.String("checkpoint", required: false) ?? "";
        string tokenizer = r.String("tokenizer", required: false) ?? "";

        AttentionKind attention = AttentionKind.Bidirectional;
        int attnBlock = 0;
        var att = r.Object("attention");
        if (att is not null)
        {
            var kind = att.Choice("kind", AttentionKinds);
            if (kind == "block_causal")
            {
                attention = AttentionKind.BlockCausal;
                attnBlock = att.Int("block_size", min: 1) ?? 0;
            }
            att.RejectUnknown();
        }

        SpecialTokens? tokens = null;
        var tok = r.Object("tokens");
        if (tok is not null && vocab is int v)
        {
            int? mask = tok.Int("mask", min: 0, max: v - 1);
            int? eos = tok.Int("eos", min: 0, max: v - 1);
            int? pad = tok.Int("pad", min: 0, max: v - 1);
            int bos = tok.Int("bos", required: false, min: 0, max: v - 1) ?? -1;
            int eot = tok.Int("end_of_turn", required: false, min: 0, max: v - 1) ?? -1;
            tok.RejectUnknown();
            if (mask is int m && eos is int e && pad is int p)
            {
                tokens = new SpecialTokens(m, e, p, bos, eot);
                // Point at the value that contradicts, not at the enclosing object.
                if (m == p)
                    tok.Error(SchemaErrorKind.ContradictoryValues, tok.Node.Get("pad")!, "tokens.pad",
                        $"pad id {p} equals the mask id: padding would be decoded as a masked position");
                if (m == e) tok.Error(SchemaErrorKind.ContradictoryValues, tok.Node.Get("eos")!, "tokens.eos", $"eos id {e} equals the mask id");
            }
        }

        // The family's sampler unless the file says otherwise (Dream: timesteps, first position, entropy).
        DecodingDefaults defaults = DecodingDefaults.ForFamily(family ?? "", 0, 0, "none");
        var dec = r.Object("defaults", required: false);
        if (dec is not null)
        {
            int gen = dec.Int("gen_length", min: 1) ?? 0;
            int block = dec.Int("block_length", min: 1) ?? 0;
            string chat = dec.Choice("chat_template", ChatTemplates, required: false) ?? "none";
            var schedule = dec.Choice("schedule", DecodingNames.Schedule, required: false) ?? defaults.Schedule;
            double timestepEps = dec.Number("eps", required: false) ?? defaults.Eps;
            var blockStart = dec.Choice("block_start", DecodingNames.BlockStart, required: false) ?? defaults.BlockStart;
            var confidence = dec.Choice("confidence", DecodingNames.Confidence, required: false) ?? defaults.Confidence;
            var sampler = dec.Choice("sampler", DecodingNames.Sampler, required: false) ?? defaults.Sampler;
            bool overfull = dec.Bool("overfull_top_k", required: false) ?? defaults.OverfullTopK;
            dec.RejectUnknown();
            if (gen > 0 && block > 0)
            {
                // The defaults are a partial configuration: the decoding rules, with the rest at their defaults.
                var rules = new List<DecodingRuleError>();
                DecodingRules.Check(new GraphDecoding(gen, block, 0, UnmaskingRule.Schedule, confidence, 0.9, 1, 1, 0, CacheMode.None, schedule,
                    timestepEps, blockStart, sampler,
                    OverfullTopK: overfull), rules);
                foreach (var e in rules) dec.Error(e.Kind, dec.Node.Get(e.Field) ?? dec.Node, dec.PathOf(e.Field), e.Message);
            }
            defaults = new DecodingDefaults(gen, block, chat, schedule, timestepEps, blockStart, confidence, sampler, overfull);
        }

        TensorNames? names = null;
        var tn = r.Object("tensor_names");
        if (tn is not null) names = ReadNames(tn, qkvBias == true, qkNorm == true, tie == true);
        r.RejectUnknown();

        // Cross-field rules.
        if (heads is int nh && kvHeads is int nkv && nh % nkv != 0)
            r.Error(SchemaErrorKind.ContradictoryValues, obj.Get("num_kv_heads")!, "num_kv_heads", $"{nkv} key/value heads do not divide {nh} query heads");
        if (headDim is int hd && hd % 2 != 0)
            r.Error(SchemaErrorKind.ContradictoryValues, obj.Get("head_dim")!, "head_dim", "rotary embeddings need an even head dimension");
        if (attention == AttentionKind.BlockCausal && shift == 1)
            r.Error(SchemaErrorKind.ContradictoryValues, obj.Get("logit_shift")!, "logit_shift",
                "a shifted (Dream-style) head is not defined for block-causal attention");

        if (errors.Count > before) return null;
        return new ModelSpec(name!, family!, hidden!.Value, layers!.Value, heads!.Value, kvHeads!.Value, headDim!.Value, mlp!.Value,
            vocab!.Value, maxLen!.Value, theta!.Value, eps!.Value, qkvBias!.Value, qkNorm!.Value, attention, attnBlock, shift!.Value,
            tie!.Value, tokens!, dtype!, checkpoint, tokenizer, defaults, names!);
    }

    private static TensorNames? ReadNames(FieldReader tn, bool qkvBias, bool qkNorm, bool tie)
    {
        string Req(string key, bool perLayer)
        {
            var s = tn.String(key);
            if (s is null) return "";
            if (perLayer && !s.Contains("{i}"))
                tn.Error(SchemaErrorKind.InvalidValue, tn.Node.Get(key)!, tn.PathOf(key), "a per-layer tensor name must contain \"{i}\" for the layer index");
            if (!perLayer && s.Contains("{i}"))
                tn.Error(SchemaErrorKind.InvalidValue, tn.Node.Get(key)!, tn.PathOf(key), "a model-level tensor name must not contain \"{i}\"");
            return s;
        }
        string Opt(string key, bool present)
        {
            if (!present)
            {
                var node = tn.Raw(key, required: false);
                if (node is not null)
                    tn.Error(SchemaErrorKind.ContradictoryValues, node, tn.PathOf(key),
                        "named, but the architecture has no such tensor (check qkv_bias / qk_norm / tie_embeddings)");
                return "";
            }
            return Req(key, perLayer: key != "lm_head");
        }
        var names = new TensorNames(
            Req("embed", false), Req("final_norm", false), Opt("lm_head", !tie),
            Req("attn_norm", true), Req("q_proj", true), Req("k_proj", true), Req("v_proj", true), Req("o_proj", true),
            Opt("q_bias", qkvBias), Opt("k_bias", qkvBias), Opt("v_bias", qkvBias), Opt("q_norm", qkNorm), Opt("k_norm", qkNorm),
            Req("mlp_norm", true), Req("gate_proj", true), Req("up_proj", true), Req("down_proj", true));
        tn.RejectUnknown();
        return names;
    }
}
