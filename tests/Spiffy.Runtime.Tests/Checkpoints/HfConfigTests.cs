using System.Text.Json.Nodes;
using Spiffy.Checkpoints;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using static Spiffy.Tests.Checkpoints.CheckpointTestSupport;

namespace Spiffy.Tests.Checkpoints;

public class HfConfigTests
{
    // The released configs' relevant fields (plus some of the fields they carry that do not matter here).
    private const string LladaConfig = """
        { "activation_type": "silu", "alibi": false, "architectures": ["LLaDAModelLM"], "attention_layer_norm": false,
          "block_type": "llama", "d_model": 4096, "embedding_size": 126464, "eos_token_id": 126081, "include_bias": false,
          "include_qkv_bias": false, "layer_norm_type": "rms", "layer_norm_with_affine": true, "mask_token_id": 126336,
          "max_sequence_length": 4096, "mlp_hidden_size": 12288, "mlp_ratio": 4, "model_type": "llada",
          "multi_query_attention": null, "n_heads": 32, "n_kv_heads": 32, "n_layers": 32, "pad_token_id": 126081,
          "rms_norm_eps": 1e-05, "rope": true, "rope_full_precision": true, "rope_theta": 500000.0, "scale_logits": false,
          "clip_qkv": null, "use_cache": false, "vocab_size": 126464, "weight_tying": false }
        """;

    private const string DreamConfig = """
        { "architectures": ["DreamModel"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
          "hidden_act": "silu", "hidden_size": 3584, "intermediate_size": 18944, "mask_token_id": 151666,
          "max_position_embeddings": 131072, "max_window_layers": 28, "model_type": "Dream", "num_attention_heads": 28,
          "num_hidden_layers": 28, "num_key_value_heads": 4, "pad_token_id": 151643, "rms_norm_eps": 1e-06,
          "rope_scaling": null, "rope_theta": 1000000.0, "sliding_window": null, "tie_word_embeddings": false,
          "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false, "vocab_size": 152064 }
        """;

    private const string SdarConfig = """
        { "architectures": ["SDARForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "block_size": 32,
          "bos_token_id": 151643, "eos_token_id": 151643, "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096,
          "intermediate_size": 12288, "max_position_embeddings": 32768, "max_window_layers": 36, "model_type": "sdar",
          "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
          "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null, "tie_word_embeddings": false,
          "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936 }
        """;

    [Theory]
    [InlineData("llada", LladaConfig)]
    [InlineData("dream", DreamConfig)]
    [InlineData("sdar", SdarConfig)]
    public void ReleasedConfigs_GiveTheSpecsOfModelsJson(string family, string config)
    {
        var expected = ModelDescription.Load(RealModelFile(family));
        var parsed = HfConfig.Parse(config, "config.json", expected.Name);
        Assert.Empty(Checkpoint.ArchitectureDifferences(expected, parsed));
        Assert.Equal(expected.Names, parsed.Names);
        Assert.Equal(expected.Tokens, parsed.Tokens);
        // Every field, decoding defaults and dtype included.
        Assert.Equal(expected, parsed);
    }

    [Theory]
    [InlineData("llada", false)]
    [InlineData("llada", true)]
    [InlineData("dream", false)]
    [InlineData("sdar", false)]
    public void ToJson_ThenParse_RoundTrips(string family, bool tie)
    {
        var spec = TinySpec(family, tie: tie) with { Defaults = new DecodingDefaults(64, 16, "none") };
        spec = spec with { Tokens = spec.Tokens with { EndOfTurn = 3 } };
        string json = HfConfig.ToJson(spec);
        using var dir = new TempDir();
        File.WriteAllText(dir["config.json"], json);
        var back = HfConfig.Load(dir["config.json"]);
        Assert.Empty(Checkpoint.ArchitectureDifferences(spec, back));
        Assert.Equal(spec.Names, back.Names);
        Assert.Equal(spec, back); // name, end-of-turn and decoding defaults ride in the "spiffy" block
        var o = JsonNode.Parse(json)!.AsObject();
        Assert.Equal(family switch { "llada" => "llada", "dream" => "Dream", _ => "sdar" }, (string?)o["model_type"]);
    }

    [Fact]
    public void Llada_NullKvHeads_MeansMultiHead_AndEmbeddingSizeWins()
    {
        var o = JsonNode.Parse(LladaConfig)!.AsObject();
        o["n_kv_heads"] = null;
        o["embedding_size"] = 126720; // padded embedding: logits are this wide
        o["include_qkv_bias"] = true;
        var spec = HfConfig.Parse(o.ToJsonString(), "config.json", "x");
        Assert.Equal(32, spec.NumKvHeads);
        Assert.Equal(126720, spec.VocabSize);
        Assert.True(spec.QkvBias);
        Assert.Equal("model.transformer.blocks.{i}.q_proj.bias", spec.Names.QBias);
        o["multi_query_attention"] = true;
        Assert.Equal(1, HfConfig.Parse(o.ToJsonString(), "config.json", "x").NumKvHeads);
    }

    [Fact]
    public void Llada_DefaultsMaskToken_AndTiesWhenAsked()
    {
        var o = JsonNode.Parse(LladaConfig)!.AsObject();
        o.Remove("mask_token_id");
        o["weight_tying"] = true;
        var spec = HfConfig.Parse(o.ToJsonString(), "config.json", "x");
        Assert.Equal(126336, spec.Tokens.Mask);
        Assert.Equal(126080, spec.Tokens.Bos);
        Assert.True(spec.TieEmbeddings);
        Assert.Equal("", spec.Names.LmHead);
    }

    [Fact]
    public void UnknownModelType_IsAnErrorNamingIt()
    {
        var e = Assert.Throws<CheckpointException>(() => HfConfig.Parse("{\"model_type\": \"llama\"}", "some/config.json", "x"));
        Assert.Contains("\"llama\"", e.Message);
        Assert.Contains("some/config.json", e.Message);
    }

    [Theory]
    [InlineData(DreamConfig, "rope_scaling", "{\"type\": \"yarn\", \"factor\": 4}")]
    [InlineData(DreamConfig, "use_sliding_window", "true")]
    [InlineData(SdarConfig, "attention_bias", "true")]
    [InlineData(SdarConfig, "block_size", "null")]
    [InlineData(LladaConfig, "attention_layer_norm", "true")]
    [InlineData(LladaConfig, "mask_token_id", "200000")]
    [InlineData(LladaConfig, "d_model", "\"big\"")]
    public void UnsupportedOrInvalidSettings_AreErrorsNamingTheField(string config, string field, string value)
    {
        var o = JsonNode.Parse(config)!.AsObject();
        o[field] = JsonNode.Parse(value);
        var e = Assert.Throws<CheckpointException>(() => HfConfig.Parse(o.ToJsonString(), "config.json", "x"));
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void ToJson_RefusesSpecsTheFamilyLayoutCannotExpress()
    {
        var dream = TinySpec("dream");
        Assert.Throws<CheckpointException>(() => HfConfig.ToJson(dream with { QkvBias = false, Names = HfConfig.StandardNames("dream", false, false, false) }));
        Assert.Throws<CheckpointException>(() => HfConfig.ToJson(dream with { Names = dream.Names with { Embed = "emb" } }));
        var llada = TinySpec("llada");
        Assert.Throws<CheckpointException>(() => HfConfig.ToJson(llada with { HeadDim = 16 }));
    }
}
