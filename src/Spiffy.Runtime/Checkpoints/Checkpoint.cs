using System.Text;
using System.Text.Json;
using Spiffy.Devices;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using TorchSharp;
using static TorchSharp.torch;

using Spiffy.Files;

namespace Spiffy.Checkpoints;

/// <summary>
/// A Hugging Face style checkpoint directory: <c>config.json</c> plus either <c>model.safetensors</c>
/// or shards listed by <c>model.safetensors.index.json</c> (the single file wins when both exist,
/// as in transformers). Opening validates every header and the index; weights are read only by
/// <see cref="LoadInto"/>, one tensor at a time, straight into the model's parameters.
/// </summary>
internal sealed class Checkpoint : IDisposable
{
    public const string ConfigFileName = "config.json";
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files;
    private readonly Dictionary<string, SafeTensorsFile> _where;

    private Checkpoint(string directory, ModelSpec spec, List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> where)
    {
        Directory = directory;
        Spec = spec;
        _files = files;
        _where = where;
        var names = new List<string>(where.Keys);
        names.Sort(StringComparer.Ordinal);
        TensorNames = names;
    }

    public string Directory { get; }

    /// <summary>The architecture from config.json (Checkpoint = this directory).</summary>
    public ModelSpec Spec { get; }

    /// <summary>Every tensor in the checkpoint, sorted.</summary>
    public IReadOnlyList<string> TensorNames { get; }

    public IReadOnlyList<string> Files => _files.ConvertAll(f => f.Path);

    public SafeTensorInfo Info(string name) => FileOf(name).Info(name);

    /// <summary>Reads one tensor to the CPU (e.g. for inspection), converted to <paramref name="dtype"/> if given.</summary>
    public Tensor Read(string name, ScalarType? dtype = null) => FileOf(name).Read(name, dtype);

    private SafeTensorsFile FileOf(string name)
        => _where.TryGetValue(name, out var f) ? f : throw new CheckpointException($"{Directory}: no tensor named '{name}'");

    public static Checkpoint Open(string dir)
    {
        if (!System.IO.Directory.Exists(dir)) throw new DirectoryNotFoundException($"checkpoint directory not found: {dir}");
        string full = Path.GetFullPath(dir);
        string configPath = Path.Combine(full, ConfigFileName);
        if (!File.Exists(configPath))
            throw new CheckpointException($"{full}: no {ConfigFileName} (a checkpoint directory holds config.json and model.safetensors)");
        string tokenizer = Path.Combine(full, "tokenizer.json");
        var spec = HfConfig.Load(configPath) with
        {
            Checkpoint = full,
            Tokenizer = File.Exists(tokenizer) ? tokenizer : "",
        };

        var files = new List<SafeTensorsFile>();
        try
        {
            var where = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            string single = Path.Combine(full, SingleFileName);
            string index = Path.Combine(full, IndexFileName);
            if (File.Exists(single))
            {
                var f = SafeTensorsFile.Open(single);
                files.Add(f);
                foreach (var n in f.Names) where[n] = f;
            }
            else if (File.Exists(index)) OpenShards(full, index, files, where);
            else throw new CheckpointException($"{full}: neither {SingleFileName} nor {IndexFileName} found");
            return new Checkpoint(full, spec, files, where);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    private static void OpenShards(string dir, string indexPath, List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> where)
    {
        var weightMap = ReadWeightMap(indexPath);
        var byShard = new SortedDictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var (tensor, shard) in weightMap)
        {
            if (!byShard.TryGetValue(shard, out var list)) byShard[shard] = list = new List<string>();
            list.Add(tensor);
        }
        string realDir = ShardPaths.RealPath(dir);
        foreach (var (shard, listed) in byShard)
        {
            var f = SafeTensorsFile.Open(ShardPaths.Resolve(dir, realDir, shard, indexPath));
            files.Add(f);
            foreach (var t in listed)
                if (!f.Contains(t)) throw new CheckpointException($"{indexPath}: maps tensor '{t}' to {shard}, which does not contain it");
            foreach (var t in f.Names)
            {
                // An index that disagrees with its shards is ambiguous: refuse rather than guess.
                if (!weightMap.TryGetValue(t, out var mapped))
                    throw new CheckpointException($"{f.Path}: holds tensor '{t}' that {IndexFileName} does not list");
                if (mapped != shard) throw new CheckpointException($"{f.Path}: holds tensor '{t}' that {IndexFileName} maps to {mapped}");
                where[t] = f;
            }
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        InputFile.Size(indexPath, SafeTensorsFile.MaxHeaderBytes, out var problem);
        if (problem is not null) throw new CheckpointException($"{indexPath}: {problem}");
        JsonDocument doc;
        // Duplicate keys would make the mapping ambiguous (the first or the last could win).
        byte[] bytes;
        try { bytes = InputFile.ReadAllBytes(indexPath, SafeTensorsFile.MaxHeaderBytes, IndexFileName); }
        catch (InvalidDataException e) { throw new CheckpointException(e.Message, e); }
        if (InputFile.Utf8Problem(bytes, out _, out _) is string bad) throw new CheckpointException($"{indexPath}: not valid UTF-8: {bad}");
        try { doc = JsonDocument.Parse(InputFile.WithoutBom(bytes), new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw new CheckpointException($"{indexPath}: not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var wm)
                || wm.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"{indexPath}: expected an object with a \"weight_map\" object");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String) throw new CheckpointException($"{indexPath}: weight_map entry '{p.Name}' is not a file name");
                if (!map.TryAdd(p.Name, p.Value.GetString()!)) throw new CheckpointException($"{indexPath}: tensor '{p.Name}' is listed twice");
            }
            if (map.Count == 0) throw new CheckpointException($"{indexPath}: weight_map is empty");
            return map;
        }
    }

    /// <summary>
    /// Copies the checkpoint's tensors into the model's parameters (converting dtype on the fly),
    /// finding each by <see cref="ModelSpec.Names"/> of the model's spec. Everything is checked before
    /// any weight is written, so a failed load leaves the model untouched. Strict: a missing tensor
    /// or one the model has no parameter for is an error. A shape mismatch is always an error.
    /// A NaN or infinite weight is an error naming the tensor (found while reading, so the model is
    /// then partly written) unless <paramref name="allowNonFinite"/>: such a model only produces garbage.
    /// </summary>
    public void LoadInto(DiffusionTransformer model, bool strict = true, bool allowNonFinite = false)
    {
        var plan = new List<(string Name, SafeTensorsFile File, Tensor Param)>();
        var problems = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (internalName, p) in model.NamedWeights())
        {
            string name = CheckpointName(model.Spec.Names, internalName);
            if (!_where.TryGetValue(name, out var file))
            {
                if (strict)
                    problems.Add($"missing tensor '{name}' (parameter {internalName}, expected shape {SafeTensorsFile.FormatShape(p.shape)}) in {Describe()}");
                continue;
            }
            used.Add(name);
            var info = file.Info(name);
            if (!SafeTensorsFile.ShapeEquals(info.Shape, p.shape))
                problems.Add($"tensor '{name}' in {file.Path}: expected shape {SafeTensorsFile.FormatShape(p.shape)}, "
                    + $"found {SafeTensorsFile.FormatShape(info.Shape)}");
            else plan.Add((name, file, p));
        }
        if (strict)
            foreach (var name in TensorNames)
                if (!used.Contains(name))
                    problems.Add($"unexpected tensor '{name}' in {_where[name].Path} (model '{model.Spec.Name}' has no parameter for it)");
        if (problems.Count > 0)
        {
            var sb = new StringBuilder($"cannot load checkpoint {Directory} into model '{model.Spec.Name}' ({problems.Count} problem(s)):");
            for (int i = 0; i < Math.Min(problems.Count, 20); i++) sb.Append("\n  ").Append(problems[i]);
            if (problems.Count > 20) sb.Append($"\n  ... and {problems.Count - 20} more");
            throw new CheckpointException(sb.ToString());
        }
        using var _ = no_grad();
        foreach (var (name, file, p) in plan)
        {
            file.ReadInto(name, p);
            if (!allowNonFinite) EnsureFinite(name, file.Path, p);
        }
    }

    private static void EnsureFinite(string name, string file, Tensor p)
    {
        if (!p.is_floating_point()) return;
        using var finite = isfinite(p);
        if (finite.all().item<bool>()) return;
        using var bad = finite.logical_not();
        long count = bad.sum().item<long>();
        using var nan = isnan(p);
        long nans = nan.sum().item<long>();
        throw new CheckpointException($"{file}: tensor '{name}' holds {count} non-finite value(s) ({nans} NaN, {count - nans} infinite); " +
            "the model would produce garbage (pass --allow-non-finite to load it anyway)");
    }

    private string Describe() => _files.Count == 1 ? _files[0].Path : $"{Directory} ({_files.Count} shards)";

    /// <summary>
    /// Builds a model of this checkpoint's architecture on <paramref name="device"/> (default CPU)
    /// and loads the weights straight into it. The dtype defaults to
    /// <see cref="ComputeDevice.DefaultDType"/> (bfloat16 on CUDA, the checkpoint's dtype on the CPU).
    /// </summary>
    public DiffusionTransformer CreateModel(ScalarType? dtype = null, Device? device = null, bool allowNonFinite = false)
    {
        device ??= CPU;
        var model = new DiffusionTransformer(Spec, dtype ?? ComputeDevice.DefaultDType(device, ParseDType(Spec.DType)), device);
        try { LoadInto(model, allowNonFinite: allowNonFinite); }
        catch { model.Dispose(); throw; }
        return model;
    }

    /// <summary>
    /// Loads a model from a checkpoint directory, or from a model description (models/*.json) whose
    /// "checkpoint" field names one (relative to the description). The description then fixes the
    /// architecture and tensor names; it must agree with the checkpoint's config.json.
    /// </summary>
    public static DiffusionTransformer LoadModel(string modelJsonOrCheckpointDir, ScalarType? dtype = null, Device? device = null, bool allowNonFinite = false)
    {
        string path = modelJsonOrCheckpointDir;
        device ??= CPU;
        if (System.IO.Directory.Exists(path))
        {
            using var ck = Open(path);
            return ck.CreateModel(dtype, device, allowNonFinite);
        }
        if (!File.Exists(path)) throw new FileNotFoundException($"neither a checkpoint directory nor a model description: {path}", path);
        var spec = ModelDescription.Load(path);
        if (spec.Checkpoint.Length == 0)
            throw new CheckpointException($"{path}: the model description names no \"checkpoint\", so it has no weights (it only describes the architecture); "
                + $"pass a checkpoint directory or add a \"checkpoint\" field");
        string dir = ModelDescription.ResolveRelative(path, spec.Checkpoint);
        using (var ck = Open(dir))
        {
            var diffs = ArchitectureDifferences(spec, ck.Spec);
            if (diffs.Count > 0)
                throw new CheckpointException(
                    $"{path}: the description disagrees with {Path.Combine(ck.Directory, ConfigFileName)}: {string.Join("; ", diffs)}");
            var model = new DiffusionTransformer(spec, dtype ?? ComputeDevice.DefaultDType(device, ParseDType(spec.DType)), device);
            try { ck.LoadInto(model, allowNonFinite: allowNonFinite); }
            catch { model.Dispose(); throw; }
            return model;
        }
    }

    /// <summary>Architecture fields (those that change the logits) on which two specs differ.</summary>
    public static List<string> ArchitectureDifferences(ModelSpec a, ModelSpec b)
    {
        var d = new List<string>();
        void Check<T>(string what, T x, T y) { if (!EqualityComparer<T>.Default.Equals(x, y)) d.Add($"{what} {x} vs {y}"); }
        Check("family", a.Family, b.Family);
        Check("hidden_size", a.HiddenSize, b.HiddenSize);
        Check("num_layers", a.NumLayers, b.NumLayers);
        Check("num_heads", a.NumHeads, b.NumHeads);
        Check("num_kv_heads", a.NumKvHeads, b.NumKvHeads);
        Check("head_dim", a.HeadDim, b.HeadDim);
        Check("intermediate_size", a.IntermediateSize, b.IntermediateSize);
        Check("vocab_size", a.VocabSize, b.VocabSize);
        Check("rope_theta", a.RopeTheta, b.RopeTheta);
        Check("rms_norm_eps", a.NormEps, b.NormEps);
        Check("qkv_bias", a.QkvBias, b.QkvBias);
        Check("qk_norm", a.QkNorm, b.QkNorm);
        Check("attention", a.Attention, b.Attention);
        Check("attention block_size", a.AttentionBlockSize, b.AttentionBlockSize);
        Check("tie_embeddings", a.TieEmbeddings, b.TieEmbeddings);
        return d;
    }

    /// <summary>
    /// Writes the model as a Hugging Face checkpoint of its family: config.json in the family's
    /// layout and model.safetensors with the checkpoint tensor names (metadata gets "format": "pt",
    /// which transformers requires). Every file is replaced atomically.
    /// </summary>
    public static void Save(DiffusionTransformer model, string dir, IReadOnlyDictionary<string, string>? metadata = null)
        => Save(model, dir, metadata, maxShardBytes: 0);

    /// <summary>As <see cref="Save(DiffusionTransformer, string, IReadOnlyDictionary{string, string}?)"/>, split into shards of at most
    /// <paramref name="maxShardBytes"/> (0 = one file) with an index like transformers writes.</summary>
    public static void Save(DiffusionTransformer model, string dir, IReadOnlyDictionary<string, string>? metadata, long maxShardBytes)
    {
        string storedDType = DTypeName(model.DType);
        var spec = model.Spec with { DType = storedDType };
        string config = HfConfig.ToJson(spec); // fails before anything is written if the family layout cannot express the spec
        var tensors = new List<(string name, Tensor t)>();
        foreach (var (internalName, p) in model.NamedWeights()) tensors.Add((CheckpointName(spec.Names, internalName), p));
        tensors.Sort((x, y) => string.CompareOrdinal(x.name, y.name));
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        if (metadata is not null) foreach (var (k, v) in metadata) meta[k] = v;
        meta.TryAdd("format", "pt");

        System.IO.Directory.CreateDirectory(dir);
        string single = Path.Combine(dir, SingleFileName), index = Path.Combine(dir, IndexFileName);
        long total = 0;
        foreach (var (_, t) in tensors) total += t.NumberOfElements * t.ElementSize;
        if (maxShardBytes <= 0 || total <= maxShardBytes)
        {
            SafeTensorsFile.Save(single, tensors, meta);
            if (File.Exists(index)) File.Delete(index); // the single file wins anyway; do not leave a misleading index
        }
        else
        {
            var shards = new List<List<(string name, Tensor t)>> { new() };
            long size = 0;
            foreach (var entry in tensors)
            {
                long bytes = entry.t.NumberOfElements * entry.t.ElementSize;
                if (size > 0 && size + bytes > maxShardBytes) { shards.Add(new()); size = 0; }
                shards[^1].Add(entry);
                size += bytes;
            }
            var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
            for (int s = 0; s < shards.Count; s++)
            {
                string file = $"model-{s + 1:D5}-of-{shards.Count:D5}.safetensors";
                SafeTensorsFile.Save(Path.Combine(dir, file), shards[s], meta);
                foreach (var (name, _) in shards[s]) weightMap[name] = file;
            }
            AtomicFile.WriteAllText(index, IndexJson(total, weightMap));
            if (File.Exists(single)) File.Delete(single); // it would shadow the shards
        }
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFileName), config);
    }

    private static string IndexJson(long totalSize, SortedDictionary<string, string> weightMap)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("metadata");
            w.WriteNumber("total_size", totalSize);
            w.WriteEndObject();
            w.WriteStartObject("weight_map");
            foreach (var (k, v) in weightMap) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    /// <summary>Maps a parameter name of <see cref="DiffusionTransformer.NamedWeights"/> ("layers.3.q_proj") to its checkpoint name.</summary>
    public static string CheckpointName(TensorNames names, string internalName)
    {
        string template;
        string? layer = null;
        switch (internalName)
        {
            case "embed": template = names.Embed; break;
            case "final_norm": template = names.FinalNorm; break;
            case "lm_head": template = names.LmHead; break;
            default:
                var parts = internalName.Split('.');
                if (parts.Length != 3 || parts[0] != "layers" || !int.TryParse(parts[1], out _))
                    throw new ArgumentException($"unknown parameter name '{internalName}'", nameof(internalName));
                layer = parts[1];
                template = parts[2] switch
                {
                    "attn_norm" => names.AttnNorm,
                    "q_proj" => names.QProj,
                    "k_proj" => names.KProj,
                    "v_proj" => names.VProj,
                    "o_proj" => names.OProj,
                    "q_bias" => names.QBias,
                    "k_bias" => names.KBias,
                    "v_bias" => names.VBias,
                    "q_norm" => names.QNorm,
                    "k_norm" => names.KNorm,
                    "mlp_norm" => names.MlpNorm,
                    "gate_proj" => names.GateProj,
                    "up_proj" => names.UpProj,
                    "down_proj" => names.DownProj,
                    _ => throw new ArgumentException($"unknown parameter name '{internalName}'", nameof(internalName)),
                };
                break;
        }
        if (template.Length == 0) throw new CheckpointException($"the model has parameter '{internalName}' but its spec names no checkpoint tensor for it");
        return layer is null ? template : template.Replace("{i}", layer, StringComparison.Ordinal);
    }

    public static ScalarType ParseDType(string dtype) => dtype switch
    {
        "float32" => ScalarType.Float32,
        "bfloat16" => ScalarType.BFloat16,
        "float16" => ScalarType.Float16,
        _ => throw new ArgumentException($"unsupported model dtype \"{dtype}\"", nameof(dtype)),
    };

    public static string DTypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => throw new ArgumentException($"unsupported model dtype {dtype}", nameof(dtype)),
    };

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
