using Spiffy.Schema.Decoding;
using Spiffy.Schema.Graphs;
using System.Text;
using System.Text.Json;
using Spiffy.Schema.Models;

using Spiffy.Files;

namespace Spiffy.Checkpoints;

/// <summary>
/// Translates a Hugging Face <c>config.json</c> of the three supported families into a
/// <see cref="ModelSpec"/>, and back. Field names and defaults follow the released checkpoints
/// (see docs/checkpoints.md): LLaDA uses OLMo names, Dream Qwen2 names, SDAR Qwen3 names. Settings
/// this runtime cannot reproduce (rope scaling, sliding windows, extra biases) are rejected rather
/// than ignored, since ignoring them would silently give wrong logits.
/// </summary>
internal static class HfConfig
{
    /// <summary>Key of the block this runtime adds to config.json (transformers keeps unknown keys as plain attributes).</summary>
    public const string ExtensionKey = "spiffy";

    /// <summary>
    /// Reads a config.json file. The spec is named <paramref name="name"/>, else the name a
    /// <see cref="ExtensionKey"/> block recorded, else the directory name.
    /// </summary>
    public static ModelSpec Load(string path, string? name = null)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"config.json not found: {path}", path);
        string fallback = Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path))) ?? "model";
        InputFile.Size(path, MaxConfigBytes, out var problem);
        if (problem is not null) throw new CheckpointException($"{path}: {problem}");
        byte[] bytes;
        try { bytes = InputFile.ReadAllBytes(path, MaxConfigBytes, "config.json"); }
        catch (InvalidDataException e) { throw new CheckpointException(e.Message, e); }
        return ParseWith(bytes, path, name, fallback);
    }

    /// <summary>Configs are a few kilobytes; anything this large is not one.</summary>
    public const long MaxConfigBytes = 16 << 20;

    public static ModelSpec Parse(string json, string file, string name) => ParseWith(Encoding.UTF8.GetBytes(json), file, name, name);

    private static ModelSpec ParseWith(byte[] utf8, string file, string? name, string fallbackName)
    {
        JsonDocument doc;
        // Bytes, not text decoded leniently: invalid UTF-8 is an error instead of U+FFFD; a BOM is skipped.
        if (InputFile.Utf8Problem(utf8, out _, out _) is string bad) throw new CheckpointException($"{file}: not valid UTF-8: {bad}");
        try { doc = JsonDocument.Parse(InputFile.WithoutBom(utf8), new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw new CheckpointException($"{file}: not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{file}: a config is a JSON object");
            var c = new Fields(doc.RootElement, file);
            string modelType = c.String("model_type") ?? throw new CheckpointException($"{file}: missing \"model_type\"");
            var spec = modelType switch
            {
                "llada" => ParseLlada(c, fallbackName),
                "Dream" or "dream" => ParseQwen(c, fallbackName, "dream"),
                "sdar" or "SDAR" => ParseQwen(c, fallbackName, "sdar"),
                _ => throw new CheckpointException($"{file}: unsupported model_type \"{modelType}\" (supported: llada, Dream, sdar)"),
            };
            spec = ApplyExtension(doc.RootElement, file, spec);
            return name is null ? spec : spec with { Name = name };
        }
    }

    /// <summary>
    /// What a models/*.json carries beyond the architecture (name, end-of-turn token, decoding
    /// defaults) has no place in the families' configs; <see cref="ToJson"/> records it in an
    /// extra block so a saved checkpoint reopens as the same spec.
    /// </summary>
    private static ModelSpec ApplyExtension(JsonElement root, string file, ModelSpec spec)
    {
        if (!root.TryGetProperty(ExtensionKey, out var ext) || ext.ValueKind == JsonValueKind.Null) return spec;
        if (ext.ValueKind != JsonValueKind.Object) throw new CheckpointException($"{file}: field '{ExtensionKey}': expected an object");
        var e = new Fields(ext, file, ExtensionKey + ".");
        string name = e.String("name") ?? spec.Name;
        int eot = e.IntOrNull("end_of_turn_token_id") ?? spec.Tokens.EndOfTurn;
        if (eot < -1 || eot >= spec.VocabSize) throw e.Error("end_of_turn_token_id", $"token id {eot} is outside the vocabulary [0, {spec.VocabSize})");
        var d = spec.Defaults;
        int gen = e.IntOrNull("gen_length") ?? d.GenLength;
        int block = e.IntOrNull("block_length") ?? d.BlockLength;
        string chat = e.String("chat_template") ?? d.ChatTemplate;
        // 0 / 0 means "no defaults" (a description may omit them).
        if (gen < 0 || block < 0 || (gen > 0) != (block > 0) || (block > 0 && gen % block != 0))
            throw e.Error("block_length", $"block length {block} must divide the generation length {gen}");
        if (Array.IndexOf(ModelSpecParser.ChatTemplates, chat) < 0) throw e.Error("chat_template", $"unknown chat template \"{chat}\"");
        // The sampler details (absent: the family's authors' defaults, already in spec.Defaults).
        var schedule = Choice(e, "schedule", DecodingNames.Schedule) ?? d.Schedule;
        var blockStart = Choice(e, "block_start", DecodingNames.BlockStart) ?? d.BlockStart;
        var confidence = Choice(e, "confidence", DecodingNames.Confidence) ?? d.Confidence;
        var sampler = Choice(e, "sampler", DecodingNames.Sampler) ?? d.Sampler;
        bool overfull = e.Bool("overfull_top_k", d.OverfullTopK);
        double eps = e.Double("eps", d.Eps);
        if (DecodingRules.Eps.Violation(eps) is string badEps) throw e.Error("eps", "eps " + badEps);
        return spec with
        {
            Name = name,
            Tokens = spec.Tokens with { EndOfTurn = eot },
            Defaults = d with
            {
                GenLength = gen,
                BlockLength = block,
                ChatTemplate = chat,
                Schedule = schedule,
                Eps = eps,
                BlockStart = blockStart,
                Confidence = confidence,
                Sampler = sampler,
                OverfullTopK = overfull
            },
        };
    }

    private static T? Choice<T>(Fields e, string key, EnumSpelling<T> spelling) where T : struct, Enum
    {
        string? value = e.String(key);
        if (value is null) return null;
        return spelling.TryParse(value, out var parsed) ? parsed
            : throw e.Error(key, $"unknown value \"{value}\" (expected one of {string.Join(", ", spelling.Names)})");
    }

    private static ModelSpec ParseLlada(Fields c, string name)
    {
        c.Reject("attention_layer_norm", v => v.ValueKind == JsonValueKind.True, "OLMo attention layer norm is not supported");
        c.Reject("include_bias", v => v.ValueKind == JsonValueKind.True, "biases on every linear layer are not supported");
        c.Reject("rope", v => v.ValueKind == JsonValueKind.False, "LLaDA without rotary embeddings is not supported");
        c.Reject("clip_qkv", v => v.ValueKind != JsonValueKind.Null, "q/k/v clipping is not supported");
        c.Reject("scale_logits", v => v.ValueKind == JsonValueKind.True, "logit scaling is not supported");
        c.Reject("layer_norm_type", v => v.ValueKind == JsonValueKind.String && v.GetString() != "rms", "only RMS layer norm is supported");
        c.Reject("block_type", v => v.ValueKind == JsonValueKind.String && v.GetString() != "llama", "only the \"llama\" block type is supported");
        c.Reject("activation_type", v => v.ValueKind == JsonValueKind.String && v.GetString() is not ("silu" or "swiglu"),
            "only SiLU-gated MLPs are supported");
        c.Reject("alibi", v => v.ValueKind == JsonValueKind.True, "ALiBi is not supported");
        c.Reject("input_emb_norm", v => v.ValueKind == JsonValueKind.True, "an embedding norm is not supported");
        c.Reject("layer_norm_with_affine", v => v.ValueKind == JsonValueKind.False, "norms without weights are not supported");

        int hidden = c.Positive("d_model");
        int heads = c.Positive("n_heads");
        // OLMo: n_kv_heads null means multi-head, or one kv head when multi_query_attention is set.
        int kvHeads = c.PositiveOrNull("n_kv_heads") ?? (c.Bool("multi_query_attention", false) ? 1 : heads);
        if (heads % kvHeads != 0) throw c.Error("n_kv_heads", $"{kvHeads} key/value heads do not divide {heads} query heads");
        if (hidden % heads != 0) throw c.Error("n_heads", $"{heads} heads do not divide d_model {hidden}");
        int vocab = c.PositiveOrNull("embedding_size") ?? c.Positive("vocab_size");
        bool tie = c.Bool("weight_tying", false);
        bool qkvBias = c.Bool("include_qkv_bias", false);
        var tokens = Tokens(c, vocab, mask: c.IntOrNull("mask_token_id") ?? 126336, eos: c.IntOrNull("eos_token_id") ?? 126081,
            pad: c.IntOrNull("pad_token_id") ?? 126081, bos: c.IntOrNull("bos_token_id") ?? 126080, eot: 126348);
        return Build(c, name, "llada", hidden, c.Positive("n_layers"), heads, kvHeads, hidden / heads, c.Positive("mlp_hidden_size"), vocab,
            c.PositiveOrNull("max_sequence_length") ?? c.PositiveOrNull("max_position_embeddings") ?? 4096,
            c.PositiveDouble("rope_theta", 10000), c.PositiveDouble("rms_norm_eps", 1e-5), qkvBias, false,
                AttentionKind.Bidirectional, 0, 0, tie, tokens, "llada");
    }

    private static ModelSpec ParseQwen(Fields c, string name, string family)
    {
        bool sdar = family == "sdar";
        c.Reject("rope_scaling", v => v.ValueKind != JsonValueKind.Null, "rope scaling is not supported");
        c.Reject("use_sliding_window", v => v.ValueKind == JsonValueKind.True, "sliding-window attention is not supported");
        c.Reject("hidden_act", v => v.ValueKind == JsonValueKind.String && v.GetString() != "silu", "only SiLU-gated MLPs are supported");
        // Qwen3's attention_bias also adds an o_proj bias, which this transformer does not have.
        if (sdar) c.Reject("attention_bias", v => v.ValueKind == JsonValueKind.True, "attention biases are not supported for SDAR");

        int hidden = c.Positive("hidden_size");
        int heads = c.Positive("num_attention_heads");
        int kvHeads = c.PositiveOrNull("num_key_value_heads") ?? heads;
        if (heads % kvHeads != 0) throw c.Error("num_key_value_heads", $"{kvHeads} key/value heads do not divide {heads} query heads");
        int headDim;
        if (sdar) headDim = c.PositiveOrNull("head_dim") ?? hidden / heads;
        else
        {
            // Qwen2 derives the head size; it has no head_dim field.
            if (hidden % heads != 0) throw c.Error("num_attention_heads", $"{heads} heads do not divide hidden_size {hidden}");
            headDim = hidden / heads;
        }
        int vocab = c.Positive("vocab_size");
        int blockSize = 0;
        if (sdar)
        {
            blockSize = c.IntOrNull("block_size") ?? throw c.Error("block_size", "SDAR needs \"block_size\" (its block-causal attention depends on it)");
            if (blockSize < 1) throw c.Error("block_size", "must be positive");
        }
        int eos = c.IntOrNull("eos_token_id") ?? 151643;
        var tokens = Tokens(c, vocab, mask: c.IntOrNull("mask_token_id") ?? (sdar ? 151669 : 151666), eos: eos,
            pad: c.IntOrNull("pad_token_id") ?? eos, bos: c.IntOrNull("bos_token_id") ?? 151643, eot: sdar ? 151645 : -1);
        return Build(c, name, family, hidden, c.Positive("num_hidden_layers"), heads, kvHeads, headDim, c.Positive("intermediate_size"), vocab,
            c.PositiveOrNull("max_position_embeddings") ?? c.PositiveOrNull("max_sequence_length") ?? 32768,
            c.PositiveDouble("rope_theta", 10000), c.PositiveDouble("rms_norm_eps", 1e-6), qkvBias: !sdar, qkNorm: sdar,
            sdar ? AttentionKind.BlockCausal : AttentionKind.Bidirectional, blockSize, sdar ? 0 : 1,
            c.Bool("tie_word_embeddings", false), tokens, "qwen");
    }

    private static ModelSpec Build(Fields c, string name, string family, int hidden, int layers, int heads, int kvHeads, int headDim,
        int mlp, int vocab, int maxLen, double theta, double eps, bool qkvBias, bool qkNorm, AttentionKind attention, int blockSize,
        int shift, bool tie, SpecialTokens tokens, string chatTemplate)
    {
        foreach (var (v, what) in new[]
        {
            (hidden, "hidden size"), (layers, "layer count"), (heads, "head count"), (kvHeads, "kv head count"), (headDim, "head dim"),
                (mlp, "MLP size"), (vocab, "vocabulary size")
        })
            if (v < 1) throw new CheckpointException($"{c.File}: {what} must be positive, found {v}");
        if (heads % kvHeads != 0) throw new CheckpointException($"{c.File}: {kvHeads} key/value heads do not divide {heads} query heads");
        if (headDim % 2 != 0) throw new CheckpointException($"{c.File}: rotary embeddings need an even head dimension, found {headDim}");
        string dtype = c.String("torch_dtype") ?? c.String("dtype") ?? "bfloat16";
        if (dtype is not ("float32" or "bfloat16" or "float16")) throw c.Error("torch_dtype", $"unsupported dtype \"{dtype}\"");
        return new ModelSpec(name, family, hidden, layers, heads, kvHeads, headDim, mlp, vocab, maxLen, theta, eps, qkvBias, qkNorm,
            attention, blockSize, shift, tie, tokens, dtype, "", "", DecodingDefaults.ForFamily(family, 256, 32, chatTemplate),
            StandardNames(family, qkvBias, qkNorm, tie));
    }

    private static SpecialTokens Tokens(Fields c, int vocab, int mask, int eos, int pad, int bos, int eot)
    {
        foreach (var (id, field) in new[] { (mask, "mask_token_id"), (eos, "eos_token_id"), (pad, "pad_token_id") })
            if (id < 0 || id >= vocab) throw c.Error(field, $"token id {id} is outside the vocabulary [0, {vocab})");
        // Optional tokens that do not exist in this vocabulary are simply absent.
        return new SpecialTokens(mask, eos, pad, bos >= 0 && bos < vocab ? bos : -1, eot >= 0 && eot < vocab ? eot : -1);
    }

    /// <summary>The checkpoint tensor names of a family's released layout (as in models/*.json).</summary>
    public static TensorNames StandardNames(string family, bool qkvBias, bool qkNorm, bool tie)
    {
        if (family == "llada")
        {
            const string b = "model.transformer.blocks.{i}.";
            return new TensorNames("model.transformer.wte.weight", "model.transformer.ln_f.weight", tie ? "" : "model.transformer.ff_out.weight",
                b + "attn_norm.weight", b + "q_proj.weight", b + "k_proj.weight", b + "v_proj.weight", b + "attn_out.weight",
                qkvBias ? b + "q_proj.bias" : "", qkvBias ? b + "k_proj.bias" : "", qkvBias ? b + "v_proj.bias" : "",
                qkNorm ? b + "q_norm.weight" : "", qkNorm ? b + "k_norm.weight" : "",
                b + "ff_norm.weight", b + "ff_proj.weight", b + "up_proj.weight", b + "ff_out.weight");
        }
        if (family is "dream" or "sdar")
        {
            const string l = "model.layers.{i}.";
            return new TensorNames("model.embed_tokens.weight", "model.norm.weight", tie ? "" : "lm_head.weight",
                l + "input_layernorm.weight", l + "self_attn.q_proj.weight", l + "self_attn.k_proj.weight", l + "self_attn.v_proj.weight",
                l + "self_attn.o_proj.weight",
                qkvBias ? l + "self_attn.q_proj.bias" : "", qkvBias ? l + "self_attn.k_proj.bias" : "", qkvBias ? l + "self_attn.v_proj.bias" : "",
                qkNorm ? l + "self_attn.q_norm.weight" : "", qkNorm ? l + "self_attn.k_norm.weight" : "",
                l + "post_attention_layernorm.weight", l + "mlp.gate_proj.weight", l + "mlp.up_proj.weight", l + "mlp.down_proj.weight");
        }
        throw new CheckpointException($"unknown model family \"{family}\"");
    }

    /// <summary>
    /// Writes the config.json that the family's released checkpoints use, such that
    /// <see cref="Parse"/> gives back the same architecture. Throws when the spec cannot be
    /// expressed in that layout (e.g. a Dream spec without q/k/v biases).
    /// </summary>
    public static string ToJson(ModelSpec spec)
    {
        CheckExpressible(spec);
        var o = new JsonWriterOptions { Indented = true };
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, o))
        {
            w.WriteStartObject();
            var t = spec.Tokens;
            if (spec.Family == "llada")
            {
                w.WriteStartArray("architectures"); w.WriteStringValue("LLaDAModelLM"); w.WriteEndArray();
                w.WriteString("model_type", "llada");
                w.WriteNumber("d_model", spec.HiddenSize);
                w.WriteNumber("n_layers", spec.NumLayers);
                w.WriteNumber("n_heads", spec.NumHeads);
                w.WriteNumber("n_kv_heads", spec.NumKvHeads);
                w.WriteNumber("mlp_hidden_size", spec.IntermediateSize);
                w.WriteNumber("vocab_size", spec.VocabSize);
                w.WriteNumber("embedding_size", spec.VocabSize);
                w.WriteNumber("max_sequence_length", spec.MaxSequenceLength);
                WriteDouble(w, "rope_theta", spec.RopeTheta);
                WriteDouble(w, "rms_norm_eps", spec.NormEps);
                w.WriteBoolean("weight_tying", spec.TieEmbeddings);
                w.WriteBoolean("include_bias", false);
                w.WriteBoolean("include_qkv_bias", spec.QkvBias);
                w.WriteBoolean("attention_layer_norm", false);
                w.WriteBoolean("rope", true);
                w.WriteString("block_type", "llama");
                w.WriteString("activation_type", "silu");
                w.WriteString("layer_norm_type", "rms");
                w.WriteNumber("mask_token_id", t.Mask);
                w.WriteNumber("eos_token_id", t.Eos);
                w.WriteNumber("pad_token_id", t.Pad);
                if (t.Bos >= 0) w.WriteNumber("bos_token_id", t.Bos);
            }
            else
            {
                bool sdar = spec.Family == "sdar";
                w.WriteStartArray("architectures"); w.WriteStringValue(sdar ? "SDARForCausalLM" : "DreamModel"); w.WriteEndArray();
                w.WriteString("model_type", sdar ? "sdar" : "Dream");
                w.WriteNumber("hidden_size", spec.HiddenSize);
                w.WriteNumber("intermediate_size", spec.IntermediateSize);
                w.WriteNumber("num_hidden_layers", spec.NumLayers);
                w.WriteNumber("num_attention_heads", spec.NumHeads);
                w.WriteNumber("num_key_value_heads", spec.NumKvHeads);
                if (sdar) w.WriteNumber("head_dim", spec.HeadDim);
                if (sdar) w.WriteBoolean("attention_bias", false);
                if (sdar) w.WriteNumber("block_size", spec.AttentionBlockSize);
                w.WriteString("hidden_act", "silu");
                w.WriteNumber("vocab_size", spec.VocabSize);
                w.WriteNumber("max_position_embeddings", spec.MaxSequenceLength);
                WriteDouble(w, "rope_theta", spec.RopeTheta);
                w.WriteNull("rope_scaling");
                WriteDouble(w, "rms_norm_eps", spec.NormEps);
                w.WriteBoolean("tie_word_embeddings", spec.TieEmbeddings);
                if (!sdar) w.WriteBoolean("use_sliding_window", false);
                w.WriteNumber("mask_token_id", t.Mask);
                w.WriteNumber("eos_token_id", t.Eos);
                w.WriteNumber("pad_token_id", t.Pad);
                if (t.Bos >= 0) w.WriteNumber("bos_token_id", t.Bos);
            }
            w.WriteString("torch_dtype", spec.DType);
            w.WriteStartObject(ExtensionKey);
            w.WriteString("name", spec.Name);
            w.WriteNumber("end_of_turn_token_id", t.EndOfTurn);
            w.WriteNumber("gen_length", spec.Defaults.GenLength);
            w.WriteNumber("block_length", spec.Defaults.BlockLength);
            w.WriteString("chat_template", spec.Defaults.ChatTemplate);
            w.WriteString("schedule", DecodingNames.Schedule.Name(spec.Defaults.Schedule));
            WriteDouble(w, "eps", spec.Defaults.Eps);
            w.WriteString("block_start", DecodingNames.BlockStart.Name(spec.Defaults.BlockStart));
            w.WriteString("confidence", DecodingNames.Confidence.Name(spec.Defaults.Confidence));
            w.WriteString("sampler", DecodingNames.Sampler.Name(spec.Defaults.Sampler));
            w.WriteBoolean("overfull_top_k", spec.Defaults.OverfullTopK);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private static void WriteDouble(Utf8JsonWriter w, string name, double value)
    {
        // Integral values as integers ("rope_theta": 500000), the rest round-trippable.
        if (value == Math.Floor(value) && Math.Abs(value) < 1e15) w.WriteNumber(name, (long)value);
        else w.WriteNumber(name, value);
    }

    private static void CheckExpressible(ModelSpec s)
    {
        string? problem = s.Family switch
        {
            "llada" when s.QkNorm => "LLaDA configs have no per-head q/k norm",
            "llada" when s.Attention != AttentionKind.Bidirectional => "LLaDA attention is bidirectional",
            "llada" or "dream" when s.HeadDim * s.NumHeads != s.HiddenSize => $"head_dim {s.HeadDim} is not hidden_size / num_heads (the config derives it)",
            "dream" when !s.QkvBias => "Dream checkpoints always have q/k/v biases",
            "dream" when s.QkNorm || s.Attention != AttentionKind.Bidirectional => "Dream is bidirectional without q/k norm",
            "dream" when s.LogitShift != 1 => "Dream's logits are shifted by one (logit_shift 1)",
            "sdar" when s.QkvBias || !s.QkNorm => "SDAR has per-head q/k norm and no biases",
            "sdar" when s.Attention != AttentionKind.BlockCausal || s.AttentionBlockSize < 1 => "SDAR attention is block-causal with a block size",
            "llada" or "sdar" when s.LogitShift != 0 => "only Dream shifts logits",
            "llada" or "dream" or "sdar" => null,
            _ => $"unknown family \"{s.Family}\"",
        };
        if (problem is null && s.Names != StandardNames(s.Family, s.QkvBias, s.QkNorm, s.TieEmbeddings))
            problem = "its tensor names differ from the family's released layout";
        if (problem is not null) throw new CheckpointException($"model '{s.Name}' cannot be written as a {s.Family} Hugging Face checkpoint: {problem}");
    }

    /// <summary>Typed access to config fields; JSON null counts as absent (LLaDA writes "n_kv_heads": null).</summary>
    private sealed class Fields
    {
        private readonly JsonElement _root;
        private readonly string _prefix;
        public Fields(JsonElement root, string file, string prefix = "") { _root = root; File = file; _prefix = prefix; }
        public string File { get; }

        private JsonElement? Get(string key)
            => _root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public CheckpointException Error(string field, string message) => new CheckpointException($"{File}: field '{_prefix}{field}': {message}");

        public string? String(string key)
        {
            var v = Get(key);
            if (v is null) return null;
            return v.Value.ValueKind == JsonValueKind.String ? v.Value.GetString() : throw Error(key, $"expected a string, found {v.Value.ValueKind}");
        }

        public int Int(string key) => IntOrNull(key) ?? throw Error(key, "missing");

        public int? IntOrNull(string key)
        {
            var v = Get(key);
            if (v is null) return null;
            if (v.Value.ValueKind == JsonValueKind.Number && v.Value.TryGetInt32(out int i)) return i;
            // Some exporters write integral floats ("n_heads": 32.0).
            if (v.Value.ValueKind == JsonValueKind.Number && v.Value.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue)
                return (int)d;
            throw Error(key, $"expected an integer, found {v.Value.GetRawText()}");
        }

        public int Positive(string key) => PositiveOrNull(key) ?? throw Error(key, "missing");

        /// <summary>A size or count: must be at least 1 (0 would divide by zero or build an empty model).</summary>
        public int? PositiveOrNull(string key)
        {
            int? v = IntOrNull(key);
            if (v is int i && i < 1) throw Error(key, $"must be a positive integer, found {i}");
            return v;
        }

        /// <summary>An epsilon or a rotary base: finite and above zero.</summary>
        public double PositiveDouble(string key, double fallback)
        {
            double v = Double(key, fallback);
            if (!double.IsFinite(v) || v <= 0)
                throw Error(key, $"must be a positive number, found {v.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
            return v;
        }

        public double Double(string key, double fallback)
        {
            var v = Get(key);
            if (v is null) return fallback;
            if (v.Value.ValueKind == JsonValueKind.Number) return v.Value.GetDouble();
            throw Error(key, $"expected a number, found {v.Value.GetRawText()}");
        }

        public bool Bool(string key, bool fallback)
        {
            var v = Get(key);
            if (v is null) return fallback;
            return v.Value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Error(key, $"expected true or false, found {v.Value.GetRawText()}"),
            };
        }

        /// <summary>Throws when the field is present (even null) and <paramref name="bad"/> holds for it.</summary>
        public void Reject(string key, Func<JsonElement, bool> bad, string why)
        {
            if (_root.TryGetProperty(key, out var v) && bad(v))
                throw Error(key, $"{why} (found {v.GetRawText()})");
        }
    }
}
