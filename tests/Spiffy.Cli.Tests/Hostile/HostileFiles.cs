using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spiffy.Checkpoints;
using Spiffy.Cli.Tests.Support;
using Spiffy.Modeling;

namespace Spiffy.Cli.Tests.Hostile;

/// <summary>
/// One temp folder shared by the hostile cases: a tiny LLaDA checkpoint (random weights, the shipped
/// tokenizer) built once, its model description, and helpers that derive broken copies of it.
/// </summary>
public sealed class HostileFiles : IDisposable
{
    public HostileFiles()
    {
        Root = Path.Combine(Path.GetTempPath(), "spiffy-hostile-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        TinyDir = Path.Combine(Root, "tiny");
        Directory.CreateDirectory(TinyDir);
        string shipped = Path.Combine(CliProcess.RepoRoot, "checkpoints", "gsm8k-small");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(shipped, "config.json")))!.AsObject();
        // Small enough that every case loads it in well under a second.
        config["d_model"] = 16;
        config["n_layers"] = 1;
        config["n_heads"] = 2;
        config["n_kv_heads"] = 2;
        config["mlp_hidden_size"] = 32;
        config["spiffy"]!["name"] = "tiny";
        config["spiffy"]!["gen_length"] = 16;
        config["spiffy"]!["block_length"] = 8;
        File.WriteAllText(Path.Combine(TinyDir, "config.json"), config.ToJsonString());
        var spec = HfConfig.Load(Path.Combine(TinyDir, "config.json"));
        using (var model = new DiffusionTransformer(spec, TorchSharp.torch.float32))
        {
            model.InitializeRandom(7);
            Checkpoint.Save(model, TinyDir);
        }
        File.Copy(Path.Combine(shipped, "tokenizer.json"), Path.Combine(TinyDir, "tokenizer.json"));

        // The model description of the same model (tensor names of the shipped description).
        var desc = JsonNode.Parse(File.ReadAllText(Path.Combine(CliProcess.RepoRoot, "models", "gsm8k-small.json")))!.AsObject();
        desc["name"] = "tiny";
        desc["hidden_size"] = 16;
        desc["num_layers"] = 1;
        desc["num_heads"] = 2;
        desc["num_kv_heads"] = 2;
        desc["head_dim"] = 8;
        desc["intermediate_size"] = 32;
        desc["checkpoint"] = "tiny";
        desc["tokenizer"] = "tiny/tokenizer.json";
        desc["defaults"] = new JsonObject { ["gen_length"] = 16, ["block_length"] = 8, ["chat_template"] = "question" };
        TinyJson = Path.Combine(Root, "tiny.json");
        File.WriteAllText(TinyJson, desc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        Data = Write("data.jsonl", string.Concat(Enumerable.Range(1, 12).Select(i =>
            $"{{\"question\": \"What is {i} + {i}?\", \"answer\": \"{i} + {i} = {2 * i}\\n#### {2 * i}\"}}\n")));
    }

    public string Root { get; }
    public string TinyDir { get; }
    public string TinyJson { get; }
    public string Data { get; }

    private int _n;

    /// <summary>A fresh path in the temp folder.</summary>
    public string NewPath(string name) => Path.Combine(Root, $"{Interlocked.Increment(ref _n)}-{name}");

    public string Write(string name, string text)
    {
        string p = NewPath(name);
        File.WriteAllText(p, text);
        return p;
    }

    public string WriteBytes(string name, byte[] bytes)
    {
        string p = NewPath(name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    /// <summary>A new empty directory.</summary>
    public string EmptyDir()
    {
        string p = NewPath("empty");
        Directory.CreateDirectory(p);
        return p;
    }

    /// <summary>A named pipe nobody writes to: opening it for reading would block forever.</summary>
    public string Fifo()
    {
        string p = NewPath("fifo");
        using var mk = Process.Start("mkfifo", p) ?? throw new InvalidOperationException("mkfifo");
        mk.WaitForExit();
        if (mk.ExitCode != 0) throw new InvalidOperationException("mkfifo failed");
        return p;
    }

    /// <summary>A sparse file of <paramref name="bytes"/> (no disk used), to exceed a size limit cheaply.</summary>
    public string Huge(string name, long bytes)
    {
        string p = NewPath(name);
        using var fs = File.Create(p);
        fs.SetLength(bytes);
        return p;
    }

    /// <summary>A copy of the tiny checkpoint changed by <paramref name="change"/> (given the copy's directory).</summary>
    public string Variant(Action<string> change)
    {
        string dir = NewPath("ckpt");
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(TinyDir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        change(dir);
        return dir;
    }

    /// <summary>A checkpoint copy whose config.json fields are set as given (a JSON literal each, e.g. "0", "1e20").</summary>
    public string ConfigVariant(params (string Field, string Json)[] fields) => Variant(dir =>
    {
        string path = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        foreach (var (field, json) in fields) config[field] = JsonNode.Parse(json);
        File.WriteAllText(path, config.ToJsonString()); // number literals are written back as given (1e400 stays 1e400)
    });

    /// <summary>A checkpoint copy whose safetensors header is rewritten by <paramref name="change"/> (data bytes kept).</summary>
    public string HeaderVariant(Action<JsonObject> change) => Variant(dir =>
    {
        string path = Path.Combine(dir, Checkpoint.SingleFileName);
        var (header, data) = SplitSafeTensors(File.ReadAllBytes(path));
        change(header);
        var h = Encoding.UTF8.GetBytes(header.ToJsonString());
        var bytes = new byte[8 + h.Length + data.Length];
        BitConverter.GetBytes((ulong)h.Length).CopyTo(bytes, 0);
        h.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + h.Length);
        File.WriteAllBytes(path, bytes);
    });

    /// <summary>A checkpoint copy whose tensor <paramref name="tensor"/> has its first element set to <paramref name="value"/>.</summary>
    public string WeightVariant(string tensor, float value) => Variant(dir =>
    {
        string path = Path.Combine(dir, Checkpoint.SingleFileName);
        var bytes = File.ReadAllBytes(path);
        var (header, _) = SplitSafeTensors(bytes);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        long begin = header[tensor]!["data_offsets"]![0]!.GetValue<long>();
        BitConverter.GetBytes(value).CopyTo(bytes, 8 + headerLength + begin);
        File.WriteAllBytes(path, bytes);
    });

    private static (JsonObject Header, byte[] Data) SplitSafeTensors(byte[] bytes)
    {
        int n = (int)BitConverter.ToInt64(bytes, 0);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, n))!.AsObject();
        return (header, bytes[(8 + n)..]);
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>The hostile corpus and the kill tests share one <see cref="HostileFiles"/> (one tiny model built per test run).</summary>
[CollectionDefinition(Name)]
public sealed class HostileCollection : ICollectionFixture<HostileFiles>
{
    public const string Name = "hostile files";
}
