using System.Text.Json.Nodes;
using Spiffy.Checkpoints;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using TorchSharp;
using static Spiffy.Tests.Checkpoints.CheckpointTestSupport;
using static TorchSharp.torch;

namespace Spiffy.Tests.Checkpoints;

public class CheckpointTests
{
    /// <summary>The checkpoint tensor names models/*.json implies for a tiny 2-layer model of the family.</summary>
    private static SortedSet<string> ExpectedNames(ModelSpec spec)
    {
        var n = spec.Names;
        var set = new SortedSet<string>(StringComparer.Ordinal) { n.Embed, n.FinalNorm };
        if (!spec.TieEmbeddings) set.Add(n.LmHead);
        foreach (var t in new[]
        {
            n.AttnNorm, n.QProj, n.KProj, n.VProj, n.OProj, n.QBias, n.KBias, n.VBias, n.QNorm, n.KNorm, n.MlpNorm, n.GateProj, n.UpProj, n.DownProj
        })
            if (t.Length > 0) for (int i = 0; i < spec.NumLayers; i++) set.Add(t.Replace("{i}", i.ToString()));
        return set;
    }

    [Theory]
    [InlineData("llada")]
    [InlineData("dream")]
    [InlineData("sdar")]
    public void SaveThenLoad_GivesIdenticalWeightsAndLogits(string family)
    {
        using var dir = new TempDir();
        var spec = TinySpec(family);
        using var model = RandomModel(spec, seed: 7);
        Checkpoint.Save(model, dir.Path, new Dictionary<string, string> { ["origin"] = "test" });

        // The family's real Hugging Face layout: config.json fields and released tensor names.
        var config = JsonNode.Parse(File.ReadAllText(dir["config.json"]))!.AsObject();
        Assert.Equal(family == "llada" ? 32 : (int?)null, (int?)config["d_model"]);
        Assert.Equal(family == "llada" ? null : (int?)32, (int?)config["hidden_size"]);
        Assert.Equal(family == "sdar" ? 4 : (int?)null, (int?)config["block_size"]);
        using (var file = SafeTensorsFile.Open(dir["model.safetensors"]))
        {
            Assert.Equal(ExpectedNames(spec), new SortedSet<string>(file.Names, StringComparer.Ordinal));
            Assert.Equal("pt", file.Metadata["format"]);
            Assert.Equal("test", file.Metadata["origin"]);
        }
        Assert.Empty(Directory.GetFiles(dir.Path, "*.spiffy-tmp"));

        using var ck = Checkpoint.Open(dir.Path);
        Assert.Empty(Checkpoint.ArchitectureDifferences(spec, ck.Spec));
        Assert.Equal(spec.Names, ck.Spec.Names);
        Assert.Equal(spec.Tokens, ck.Spec.Tokens);
        Assert.Equal(spec, ck.Spec with { Checkpoint = "", Tokenizer = "" });
        using var loaded = ck.CreateModel();
        AssertSameWeights(model, loaded);
        using var tokens = Tokens(2, 10, spec.VocabSize, seed: 3);
        using var expected = FullForward(model, tokens);
        using var actual = FullForward(loaded, tokens);
        Assert.True(expected.eq(actual).all().item<bool>());
    }

    [Theory]
    [InlineData("llada")]
    [InlineData("dream")]
    [InlineData("sdar")]
    public void ShardedCheckpoint_WithIndex_LoadsTheSame(string family)
    {
        using var dir = new TempDir();
        var spec = TinySpec(family);
        using var model = RandomModel(spec, seed: 11);
        Checkpoint.Save(model, dir.Path, null, maxShardBytes: 20_000);
        Assert.False(File.Exists(dir["model.safetensors"]));
        var index = JsonNode.Parse(File.ReadAllText(dir["model.safetensors.index.json"]))!.AsObject();
        var shards = index["weight_map"]!.AsObject().Select(p => (string)p.Value!).Distinct().ToList();
        Assert.True(shards.Count >= 3, $"expected several shards, got {shards.Count}");
        Assert.All(shards, s => Assert.Matches(@"^model-\d{5}-of-\d{5}\.safetensors$", s));

        using var ck = Checkpoint.Open(dir.Path);
        Assert.Equal(shards.Count, ck.Files.Count);
        using var loaded = ck.CreateModel();
        AssertSameWeights(model, loaded);
        using var tokens = Tokens(2, 8, spec.VocabSize, seed: 5);
        using var a = FullForward(model, tokens);
        using var b = FullForward(loaded, tokens);
        Assert.True(a.eq(b).all().item<bool>());
    }

    [Fact]
    public void TiedEmbeddings_RoundTripWithoutLmHead()
    {
        using var dir = new TempDir();
        var spec = TinySpec("llada", tie: true);
        using var model = RandomModel(spec, seed: 2);
        Checkpoint.Save(model, dir.Path);
        using var ck = Checkpoint.Open(dir.Path);
        Assert.True(ck.Spec.TieEmbeddings);
        Assert.DoesNotContain("model.transformer.ff_out.weight", ck.TensorNames);
        using var loaded = ck.CreateModel();
        AssertSameWeights(model, loaded);
    }

    /// <summary>Saves a tiny model, then rewrites model.safetensors through <paramref name="edit"/>.</summary>
    private static void SaveEdited(string dir, string family, Action<List<(string name, Tensor t)>> edit)
    {
        using var model = RandomModel(TinySpec(family), seed: 1);
        Checkpoint.Save(model, dir);
        var tensors = new List<(string name, Tensor t)>();
        using (var f = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
            foreach (var n in f.Names) tensors.Add((n, f.Read(n)));
        edit(tensors);
        SafeTensorsFile.Save(Path.Combine(dir, "model.safetensors"), tensors);
    }

    [Fact]
    public void MissingTensor_IsAnErrorInStrictMode()
    {
        using var dir = new TempDir();
        SaveEdited(dir.Path, "dream", t => t.RemoveAll(x => x.name == "model.layers.1.self_attn.k_proj.bias"));
        using var ck = Checkpoint.Open(dir.Path);
        using var model = new DiffusionTransformer(TinySpec("dream"), ScalarType.Float32);
        var e = Assert.Throws<CheckpointException>(() => ck.LoadInto(model));
        Assert.Contains("missing tensor 'model.layers.1.self_attn.k_proj.bias'", e.Message);
        Assert.Contains("[16]", e.Message);
        Assert.Contains(dir["model.safetensors"], e.Message);
        ck.LoadInto(model, strict: false); // non-strict: the parameter keeps its value
    }

    [Fact]
    public void ExtraTensor_IsAnErrorInStrictMode()
    {
        using var dir = new TempDir();
        SaveEdited(dir.Path, "sdar", t => t.Add(("model.layers.0.self_attn.rotary_emb.inv_freq", ones(4))));
        using var ck = Checkpoint.Open(dir.Path);
        using var model = new DiffusionTransformer(TinySpec("sdar"), ScalarType.Float32);
        var e = Assert.Throws<CheckpointException>(() => ck.LoadInto(model));
        Assert.Contains("unexpected tensor 'model.layers.0.self_attn.rotary_emb.inv_freq'", e.Message);
        Assert.Contains(dir["model.safetensors"], e.Message);
        ck.LoadInto(model, strict: false);
    }

    [Fact]
    public void ShapeMismatch_NamesTensorFileAndBothShapes_AndLeavesTheModelUntouched()
    {
        using var dir = new TempDir();
        using (var small = RandomModel(TinySpec("llada", vocab: 50), seed: 1)) Checkpoint.Save(small, dir.Path);
        using var ck = Checkpoint.Open(dir.Path);
        using var model = RandomModel(TinySpec("llada", vocab: 51), seed: 2);
        using var before = model.NamedWeights()["layers.0.q_proj"].clone();
        var e = Assert.Throws<CheckpointException>(() => ck.LoadInto(model, strict: false));
        Assert.Contains("'model.transformer.wte.weight'", e.Message);
        Assert.Contains("expected shape [51, 32], found [50, 32]", e.Message);
        Assert.Contains(dir["model.safetensors"], e.Message);
        Assert.Contains("'model.transformer.ff_out.weight'", e.Message);
        Assert.True(model.NamedWeights()["layers.0.q_proj"].eq(before).all().item<bool>());
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void HalfPrecisionStorage_LoadsIntoFloat32(ScalarType stored)
    {
        using var dir = new TempDir();
        var spec = TinySpec("dream");
        using var model = RandomModel(spec, seed: 4, dtype: stored);
        Checkpoint.Save(model, dir.Path);
        using (var f = SafeTensorsFile.Open(dir["model.safetensors"]))
            Assert.Equal(stored == ScalarType.BFloat16 ? "BF16" : "F16", f.Info("model.embed_tokens.weight").DType);
        using var ck = Checkpoint.Open(dir.Path);
        Assert.Equal(stored == ScalarType.BFloat16 ? "bfloat16" : "float16", ck.Spec.DType);
        using var loaded = Checkpoint.LoadModel(dir.Path, ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, loaded.NamedWeights()["embed"].dtype);
        AssertSameWeights(model, loaded);
    }

    private static void WriteIndex(string dir, Dictionary<string, string> weightMap)
    {
        var wm = new JsonObject();
        foreach (var (k, v) in weightMap) wm[k] = v;
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), new JsonObject { ["weight_map"] = wm }.ToJsonString());
    }

    /// <summary>A checkpoint dir whose index maps every tensor to <paramref name="shardName"/>.</summary>
    private static void ShardedVia(string dir, string shardName)
    {
        using var model = RandomModel(TinySpec("llada"), seed: 1);
        Checkpoint.Save(model, dir);
        using (var f = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
            WriteIndex(dir, f.Names.ToDictionary(n => n, _ => shardName));
    }

    [Theory]
    [InlineData("../x.safetensors", "..")]
    [InlineData("sub/../../x.safetensors", "..")]
    [InlineData("/etc/passwd", "absolute")]
    public void ShardNames_OutsideTheDirectory_AreRejected(string shard, string expected)
    {
        using var dir = new TempDir();
        ShardedVia(dir.Path, shard);
        File.Move(dir["model.safetensors"], dir["hidden.bin"]); // so the index is used
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Open(dir.Path).Dispose());
        Assert.Contains(expected, e.Message);
        Assert.Contains(shard, e.Message);
    }

    [Fact]
    public void ShardSymlinks_PointingOutside_AreRejected_AndInsideAccepted()
    {
        using var outside = new TempDir();
        using var dir = new TempDir();
        ShardedVia(dir.Path, "link.safetensors");
        File.Move(dir["model.safetensors"], outside["real.safetensors"]);
        File.CreateSymbolicLink(dir["link.safetensors"], outside["real.safetensors"]);
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Open(dir.Path).Dispose());
        Assert.Contains("outside the checkpoint directory", e.Message);

        // A symlinked directory on the way out is caught as well.
        Directory.CreateSymbolicLink(dir["sub"], outside.Path);
        ShardedVia(dir.Path, "sub/real.safetensors");
        File.Delete(dir["model.safetensors"]);
        Assert.Contains("outside the checkpoint directory", Assert.Throws<CheckpointException>(() => Checkpoint.Open(dir.Path).Dispose()).Message);

        // A relative link that stays inside is fine.
        ShardedVia(dir.Path, "inner.safetensors");
        Directory.CreateDirectory(dir["blobs"]);
        File.Move(dir["model.safetensors"], dir["blobs/abc"]);
        File.CreateSymbolicLink(dir["inner.safetensors"], "blobs/abc");
        using var ck = Checkpoint.Open(dir.Path);
        using var loaded = ck.CreateModel();
    }

    [Fact]
    public void IndexDisagreeingWithShards_IsAnError()
    {
        using var dir = new TempDir();
        ShardedVia(dir.Path, "model-1.safetensors");
        File.Move(dir["model.safetensors"], dir["model-1.safetensors"]);
        var map = JsonNode.Parse(File.ReadAllText(dir["model.safetensors.index.json"]))!["weight_map"]!.AsObject()
            .ToDictionary(p => p.Key, p => (string)p.Value!);
        map["model.transformer.extra.weight"] = "model-1.safetensors";
        WriteIndex(dir.Path, map);
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Open(dir.Path).Dispose());
        Assert.Contains("model.transformer.extra.weight", e.Message);
    }

    [Fact]
    public void LoadModel_FromDescriptionWithCheckpoint_UsesTheDescriptionAndTheWeights()
    {
        using var dir = new TempDir();
        using var model = RandomModel(TinySpec("sdar"), seed: 9);
        Checkpoint.Save(model, dir["weights"]);
        File.WriteAllText(dir["tiny.json"], TinyDescriptionJson("sdar", checkpoint: "weights"));
        using var loaded = Checkpoint.LoadModel(dir["tiny.json"]);
        Assert.Equal("tiny-sdar", loaded.Spec.Name);
        AssertSameWeights(model, loaded);
    }

    [Fact]
    public void LoadModel_FromDescriptionWithoutCheckpoint_SaysItHasNoWeights()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["tiny.json"], TinyDescriptionJson("dream"));
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.LoadModel(dir["tiny.json"]).Dispose());
        Assert.Contains("no weights", e.Message);
        Assert.Contains(dir["tiny.json"], e.Message);
    }

    [Fact]
    public void LoadModel_DescriptionDisagreeingWithConfig_IsAnError()
    {
        using var dir = new TempDir();
        using (var model = RandomModel(TinySpec("dream"), seed: 9)) Checkpoint.Save(model, dir["weights"]);
        var o = JsonNode.Parse(TinyDescriptionJson("dream", checkpoint: "weights"))!.AsObject();
        o["rope_theta"] = 5000;
        File.WriteAllText(dir["tiny.json"], o.ToJsonString());
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.LoadModel(dir["tiny.json"]).Dispose());
        Assert.Contains("rope_theta", e.Message);
    }

    [Fact]
    public void Open_WithoutWeightsOrConfig_IsAClearError()
    {
        using var dir = new TempDir();
        Assert.Contains("config.json", Assert.Throws<CheckpointException>(() => Checkpoint.Open(dir.Path).Dispose()).Message);
        File.WriteAllText(dir["config.json"], HfConfig.ToJson(TinySpec("llada")));
        Assert.Contains("model.safetensors", Assert.Throws<CheckpointException>(() => Checkpoint.Open(dir.Path).Dispose()).Message);
    }

    [Fact]
    public void CheckpointName_MapsInternalNames()
    {
        var names = TinySpec("llada").Names;
        Assert.Equal("model.transformer.blocks.1.ff_proj.weight", Checkpoint.CheckpointName(names, "layers.1.gate_proj"));
        Assert.Equal("model.transformer.blocks.0.ff_out.weight", Checkpoint.CheckpointName(names, "layers.0.down_proj"));
        Assert.Equal("model.transformer.ff_out.weight", Checkpoint.CheckpointName(names, "lm_head"));
        Assert.Throws<ArgumentException>(() => Checkpoint.CheckpointName(names, "layers.x.q_proj"));
        Assert.Throws<CheckpointException>(() => Checkpoint.CheckpointName(names, "layers.0.q_bias"));
    }
}
