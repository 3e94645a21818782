using System.Text;
using System.Text.Json.Nodes;
using Spiffy.Modeling;
using Spiffy.Schema.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Tests.Checkpoints;

/// <summary>Tiny models of each family, temp directories and file helpers for the checkpoint tests.</summary>
internal static class CheckpointTestSupport
{
    public static readonly string[] Families = { "llada", "dream", "sdar" };

    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Spiffy.Compiler.sln"))) return d.FullName;
        throw new InvalidOperationException("repository root (Spiffy.Compiler.sln) not found above " + AppContext.BaseDirectory);
    }

    public static string RealModelFile(string family) => Path.Combine(RepoRoot, "models", family switch
    {
        "llada" => "llada-8b-instruct.json",
        "dream" => "dream-v0-instruct-7b.json",
        "sdar" => "sdar-8b-chat-b32.json",
        _ => throw new ArgumentException(family),
    });

    /// <summary>
    /// The real models/*.json of the family with tiny sizes (hidden 32, 2 layers, 4 heads, 2 kv heads
    /// for Dream/SDAR, head_dim 8, vocab 50): same tensor names and switches as the released model.
    /// </summary>
    public static string TinyDescriptionJson(string family, int vocab = 50, bool tie = false, string? checkpoint = null)
    {
        var o = JsonNode.Parse(File.ReadAllText(RealModelFile(family)))!.AsObject();
        o["name"] = "tiny-" + family;
        o["hidden_size"] = 32;
        o["num_layers"] = 2;
        o["num_heads"] = 4;
        o["num_kv_heads"] = family == "llada" ? 4 : 2;
        o["head_dim"] = 8;
        o["intermediate_size"] = 64;
        o["vocab_size"] = vocab;
        o["max_sequence_length"] = 64;
        o["dtype"] = "float32";
        o["tokens"] = new JsonObject { ["mask"] = vocab - 1, ["eos"] = vocab - 2, ["pad"] = vocab - 2, ["bos"] = vocab - 3 };
        if (family == "sdar") o["attention"] = new JsonObject { ["kind"] = "block_causal", ["block_size"] = 4 };
        if (tie)
        {
            o["tie_embeddings"] = true;
            o["tensor_names"]!.AsObject().Remove("lm_head");
        }
        if (checkpoint is not null) o["checkpoint"] = checkpoint;
        return o.ToJsonString();
    }

    public static ModelSpec TinySpec(string family, int vocab = 50, bool tie = false)
        => ModelDescription.Parse(TinyDescriptionJson(family, vocab, tie), $"tiny-{family}.json");

    /// <summary>A model with every parameter random (norms and biases too, so a mix-up shows).</summary>
    public static DiffusionTransformer RandomModel(ModelSpec spec, long seed, ScalarType dtype = ScalarType.Float32)
    {
        var model = new DiffusionTransformer(spec, dtype);
        using var _ = no_grad();
        var gen = new Generator((ulong)seed);
        foreach (var (name, p) in model.NamedWeights())
        {
            if (name.EndsWith("norm", StringComparison.Ordinal)) p.normal_(1.0, 0.2, gen);
            else p.normal_(0.0, 0.3, gen);
        }
        return model;
    }

    public static Tensor Tokens(int rows, int length, int vocab, long seed)
        => randint(0, vocab, new long[] { rows, length }, dtype: ScalarType.Int64, generator: new Generator((ulong)seed));

    public static Tensor Positions(int start, int length) => arange(start, start + length, dtype: ScalarType.Int64).unsqueeze(0);

    /// <summary>SDAR's block-causal mask, bool [1, 1, T, T]: query i sees key j iff j / block &lt;= i / block.</summary>
    public static Tensor BlockCausalMask(int length, int block)
    {
        var blk = arange(0, length, dtype: ScalarType.Int64).div(block, rounding_mode: RoundingMode.floor);
        return blk.unsqueeze(0).le(blk.unsqueeze(1)).view(1, 1, length, length);
    }

    public static Tensor? MaskFor(ModelSpec spec, int length)
        => spec.Attention == AttentionKind.BlockCausal ? BlockCausalMask(length, spec.AttentionBlockSize) : null;

    public static Tensor FullForward(DiffusionTransformer model, Tensor tokens)
    {
        int t = (int)tokens.shape[1];
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.Forward(ForwardRequest.Full(tokens, Positions(0, t), MaskFor(model.Spec, t)));
        return logits.MoveToOuterDisposeScope();
    }

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var d = a.to(ScalarType.Float64).sub(b.to(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }

    public static void AssertSameWeights(DiffusionTransformer expected, DiffusionTransformer actual)
    {
        var e = expected.NamedWeights();
        var a = actual.NamedWeights();
        Assert.Equal(e.Keys.OrderBy(k => k, StringComparer.Ordinal), a.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, p) in e)
        {
            using var q = a[name].to(p.dtype);
            Assert.True(p.eq(q).all().item<bool>(), $"parameter {name} differs after the round trip");
        }
    }

    /// <summary>Writes a safetensors file by hand (for malformed-file tests): length prefix, header, data bytes.</summary>
    public static void WriteRawSafetensors(string path, string header, int dataBytes, ulong? lengthOverride = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes(lengthOverride ?? (ulong)h.Length));
        fs.Write(h);
        fs.Write(new byte[dataBytes]);
    }
}

/// <summary>A fresh directory under the temp folder, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "spiffy-ckpt-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
