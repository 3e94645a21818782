using System.Text.Json.Nodes;
using Spiffy.Cli.Tests.Support;

namespace Spiffy.Cli.Tests.Hostile;

/// <summary>One hostile input: the command line (built from the shared files), the exit code and a part of the message it must give.</summary>
public sealed record HostileCase(string Name, Func<HostileFiles, string[]> Args, int Exit, string Expect, bool NeedsFifo = false);

/// <summary>The corpus. Issue 15's findings first (each was a crash, hang or memory bomb), then more of the same kinds.</summary>
public static class HostileCases
{
    private const int Input = 1, Usage = 2;
    private const string Prompt = "What is 2 + 2?";

    private static string[] Generate(string model, params string[] more) => ["generate", "--model", model, "--no-spiffy", .. more, Prompt];

    private static string[] GenerateWithGraph(HostileFiles f, string graph) => ["generate", "--model", f.TinyJson, "--graph", graph, Prompt];

    private static string[] Train(HostileFiles f, string model, string data) =>
        ["train", "--model", model, "--data", data, "--out", f.NewPath("run"), "--tokenizer", Path.Combine(f.TinyDir, "tokenizer.json"),
         "--holdout", "2", "--steps", "1", "--batch", "2", "--max-prompt", "64", "--eval-problems", "0"];

    private static string ModelJson(HostileFiles f, params (string Field, string Json)[] fields)
    {
        var desc = JsonNode.Parse(File.ReadAllText(f.TinyJson))!.AsObject();
        foreach (var (field, json) in fields) desc[field] = JsonNode.Parse(json);
        desc["checkpoint"] = Path.Combine(f.Root, "tiny");
        desc["tokenizer"] = Path.Combine(f.Root, "tiny", "tokenizer.json");
        return f.Write("model.json", desc.ToJsonString());
    }

    private static string DreamConfig(HostileFiles f, int kvHeads) => f.Variant(dir => File.WriteAllText(Path.Combine(dir, "config.json"),
        $$"""{"model_type": "Dream", "hidden_size": 16, "num_attention_heads": 2, "num_key_value_heads": {{kvHeads}}, "num_hidden_layers": 1,"""
        + """ "intermediate_size": 32, "vocab_size": 2048, "mask_token_id": 1, "eos_token_id": 0, "pad_token_id": 0, "torch_dtype": "float32"}"""));

    private static string Tokenizer(HostileFiles f, string regex)
    {
        var tok = JsonNode.Parse(File.ReadAllText(Path.Combine(f.TinyDir, "tokenizer.json")))!.AsObject();
        tok["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = regex }, ["behavior"] = "Isolated", ["invert"] = false },
                new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = false, ["use_regex"] = false }),
        };
        return f.Write("tokenizer.json", tok.ToJsonString());
    }

    private static string Index(HostileFiles f, string shard) => f.Variant(dir =>
    {
        File.Move(Path.Combine(dir, "model.safetensors"), Path.Combine(dir, "model-00001-of-00001.safetensors"));
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"),
            $$$"""{"metadata": {}, "weight_map": {"model.transformer.wte.weight": "{{{shard}}}"}}""");
    });

    public static IReadOnlyList<HostileCase> All { get; } =
    [
        // --- issue 15: crashes (exit 134 with a trace) ---
        new("empty directory as --model", f => Generate(f.EmptyDir()), Input, "config.json"),
        new("description without weights", f => Generate(Path.Combine(CliProcess.RepoRoot, "models", "llada-8b-instruct.json")), Input, "no \"checkpoint\""),
        new("directory as --prompt-ids", f => ["generate", "--model", f.TinyJson, "--no-spiffy", "--prompt-ids", f.EmptyDir()], Input, "is a directory"),
        new("truncated safetensors", f => Generate(f.Variant(d =>
        {
            var p = Path.Combine(d, "model.safetensors"); var b = File.ReadAllBytes(p); File.WriteAllBytes(p, b[..(b.Length / 2)]);
        })), Input, "model.safetensors"),
        new("corrupt safetensors header", f => Generate(f.Variant(d =>
        {
            var p = Path.Combine(d, "model.safetensors"); var b = File.ReadAllBytes(p); b[9] = (byte)'#'; File.WriteAllBytes(p, b);
        })), Input, "model.safetensors"),
        new("unknown dtype in safetensors", f => Generate(f.HeaderVariant(h => h["model.transformer.ln_f.weight"]!["dtype"] = "F8_E4M3")), Input, "F8_E4M3"),
        new("overlapping tensors",
            f => Generate(f.HeaderVariant(h =>
            h["model.transformer.ln_f.weight"]!["data_offsets"] = h["model.transformer.wte.weight"]!["data_offsets"]!.DeepClone())), Input,
            "model.safetensors"),
        new("shard index with ../", f => Generate(Index(f, "../model-00001-of-00001.safetensors")), Input, ".."),
        new("shard index with an absolute path", f => Generate(Index(f, "/etc/passwd")), Input, "absolute"),
        new("shard symlink out of the folder", f => Generate(f.Variant(d =>
        {
            File.Move(Path.Combine(d, "model.safetensors"), Path.Combine(f.Root, Path.GetFileName(d) + "-outside.safetensors"));
            File.CreateSymbolicLink(Path.Combine(d, "shard.safetensors"), Path.Combine(f.Root, Path.GetFileName(d) + "-outside.safetensors"));
            File.WriteAllText(Path.Combine(d, "model.safetensors.index.json"), """{"weight_map": {"model.transformer.wte.weight": "shard.safetensors"}}""");
        })), Input, "outside"),
        new("LLaDA n_heads 0 (generate)", f => Generate(f.ConfigVariant(("n_heads", "0"))), Input, "n_heads"),
        new("LLaDA n_heads 0 (inspect)", f => ["inspect", f.ConfigVariant(("n_heads", "0"))], Input, "n_heads"),
        new("Dream num_key_value_heads 0", f => ["inspect", DreamConfig(f, 0)], Input, "num_key_value_heads"),
        new("Dream kv heads that do not divide", f => ["inspect", DreamConfig(f, 3)], Input, "do not divide"),
        new("vocab_size 0", f => Generate(f.ConfigVariant(("vocab_size", "0"), ("embedding_size", "0"))), Input, "must be a positive integer"),
        new("d_model 1e20", f => Generate(f.ConfigVariant(("d_model", "1e20"))), Input, "d_model"),
        new("d_model 2^20 (4 TB)", f => Generate(f.ConfigVariant(("d_model", "1048576"))), Input, "not enough memory"),
        new("vocab_size 2^31-1", f => Generate(f.ConfigVariant(("vocab_size", "2147483647"), ("embedding_size", "2147483647"))), Input, "not enough memory"),
        new("n_layers 1000000", f => Generate(f.ConfigVariant(("n_layers", "1000000"))), Input, "not enough memory"),
        new("rope_theta -1", f => Generate(f.ConfigVariant(("rope_theta", "-1"))), Input, "rope_theta"),
        new("rms_norm_eps -1", f => Generate(f.ConfigVariant(("rms_norm_eps", "-1"))), Input, "rms_norm_eps"),
        new("rope_theta 1e400", f => Generate(f.ConfigVariant(("rope_theta", "1e400"))), Input, "rope_theta"),
        new("NaN weight", f => Generate(f.WeightVariant("model.transformer.blocks.0.q_proj.weight", float.NaN)), Input,
            "model.transformer.blocks.0.q_proj.weight"),
        new("infinite weight", f => Generate(f.WeightVariant("model.transformer.wte.weight", float.PositiveInfinity)), Input, "model.transformer.wte.weight"),
        new("catastrophic tokenizer regex", f => ["tokenize", Tokenizer(f, "(a|aa)+$"), new string('a', 61) + "b"], Input, "catastrophic backtracking"),

        // --- issue 15: hangs and memory bombs on special files ---
        new("FIFO as --graph", f => GenerateWithGraph(f, f.Fifo()), Input, "FIFO", NeedsFifo: true),
        new("FIFO as graph input", f => ["graph", f.Fifo()], Input, "FIFO", NeedsFifo: true),
        new("FIFO as --prompt-ids", f => ["generate", "--model", f.TinyJson, "--no-spiffy", "--prompt-ids", f.Fifo()], Input, "FIFO", NeedsFifo: true),
        new("FIFO as --model x.json", f => Generate(f.Fifo()), Input, "FIFO", NeedsFifo: true),
        new("/dev/zero as graph input", f => ["graph", "/dev/zero"], Input, "special file"),
        new("/dev/zero as --prompt-ids", f => ["generate", "--model", f.TinyJson, "--no-spiffy", "--prompt-ids", "/dev/zero"], Input, "special file"),
        new("/dev/zero as --model", f => Generate("/dev/zero"), Input, "special file"),

        // --- more of the same kinds ---
        new("FIFO as config.json", f => ["inspect", f.Variant(d =>
        {
            File.Delete(Path.Combine(d, "config.json")); File.Move(f.Fifo(), Path.Combine(d, "config.json"));
        })], Input, "FIFO", NeedsFifo: true),
        new("FIFO as model.safetensors", f => Generate(f.Variant(d =>
        {
            File.Delete(Path.Combine(d, "model.safetensors")); File.Move(f.Fifo(), Path.Combine(d, "model.safetensors"));
        })), Input, "not a regular file", NeedsFifo: true),
        new("directory as model.safetensors", f => Generate(f.Variant(d =>
        {
            File.Delete(Path.Combine(d, "model.safetensors")); Directory.CreateDirectory(Path.Combine(d, "model.safetensors"));
        })), Input, "model.safetensors"),
        new("config.json linked to /dev/zero", f => ["inspect", f.Variant(d =>
        {
            File.Delete(Path.Combine(d, "config.json")); File.CreateSymbolicLink(Path.Combine(d, "config.json"), "/dev/zero");
        })], Input, "special file"),
        new("empty config.json", f => ["inspect", f.Variant(d => File.WriteAllText(Path.Combine(d, "config.json"), ""))], Input, "empty"),
        new("FIFO as tokenizer", f => ["tokenize", f.Fifo(), "hi"], Input, "FIFO", NeedsFifo: true),
        new("directory without tokenizer", f => ["tokenize", f.EmptyDir(), "hi"], Input, "tokenizer"),
        new("huge graph file (sparse, 300 MB)", f => ["graph", f.Huge("graph.json", 300L << 20)], Input, "limit"),
        new("graph that is not JSON", f => ["graph", f.Write("graph.json", "{\"format\": ")], Input, "graph.json"),
        new("graph that is a directory", f => ["graph", f.EmptyDir()], Input, "is a directory"),
        new("missing graph file", f => ["graph", f.NewPath("nothing.json")], Input, "not found"),
        new("FIFO as train --data", f => Train(f, f.TinyJson, f.Fifo()), Input, "FIFO", NeedsFifo: true),
        new("directory as train --data", f => Train(f, f.TinyJson, f.EmptyDir()), Input, "is a directory"),
        new("data line without an end (2 MB)",
            f => Train(f, f.TinyJson, f.Write("data.jsonl", "{\"question\": \"" + new string('x', 2 << 20))), Input, "line longer"),
        new("data with invalid UTF-8", f => Train(f, f.TinyJson, f.WriteBytes("data.jsonl", [0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a])), Input, "UTF-8"),
        new("FIFO as logits --ids", f => ["logits", f.TinyDir, "--ids", f.Fifo(), "-o", f.NewPath("out.safetensors")], Input, "FIFO", NeedsFifo: true),
        new("logits ids of mixed lengths",
            f => ["logits", f.TinyDir, "--ids", f.Write("ids.json", "[[1,2],[3]]"), "-o", f.NewPath("out.safetensors")], Input, "different lengths"),
        new("token id outside the vocabulary",
            f => ["generate", "--model", f.TinyJson, "--no-spiffy", "--prompt-ids", f.Write("ids.json", "[5, 99999999]")], Input, "99999999"),
        new("description with num_kv_heads 0", f => ["inspect", ModelJson(f, ("num_kv_heads", "0"))], Input, "num_kv_heads"),
        new("description with heads that do not divide", f => ["inspect", ModelJson(f, ("num_kv_heads", "3"))], Input, "do not divide"),
        new("description with rope_theta 0", f => ["inspect", ModelJson(f, ("rope_theta", "0"))], Input, "rope_theta"),
        new("description with n_layers 1000000 (train)", f => Train(f, ModelJson(f, ("num_layers", "1000000")), f.Data), Input, "not enough memory"),
        new("description disagreeing with its checkpoint", f => Generate(ModelJson(f, ("num_layers", "2"))), Input, "disagrees"),
        new("FIFO as bench --prompts", f => ["bench", "--model", f.TinyJson, "--prompts", f.Fifo(), "--count", "1"], Input, "FIFO", NeedsFifo: true),
        new("/dev/zero as calibrate --prompts",
            f => ["calibrate", "--model", f.TinyJson, "--prompts", "/dev/zero", "-o", f.NewPath("g.json")], Input, "special file"),
        new("unknown option", f => ["generate", "--model", f.TinyJson, "--no-such-option", "1", Prompt], Usage, "no-such-option"),
        new("negative steps", f => ["train", "--model", f.TinyJson, "--data", f.Data, "--out", f.NewPath("run"), "--steps", "-1"], Usage, "steps"),
    ];
}
