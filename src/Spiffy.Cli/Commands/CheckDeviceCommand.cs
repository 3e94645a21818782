using Spiffy.Benchmarking;
using Spiffy.Checkpoints;
using Spiffy.Cli.CommandLine;
using Spiffy.Decoding;
using Spiffy.Devices;
using Spiffy.Modeling;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;
using Spiffy.Training;
using static TorchSharp.torch;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy check-device`: does this device compute what the CPU computes (logits and decoded tokens)?</summary>
public sealed class CheckDeviceCommand : ICommand
{
    public string Help => $"""
        usage: spiffy check-device [--device D] [options]

        Compares a device with the CPU (TF32 off): logits of small checkpoints in float32 (absolute
        tolerance {DeviceAgreement.Float32Tolerance}) and in a reduced dtype (relative {DeviceAgreement.ReducedTolerance}), then the tokens
        decoded by float32 models, plain and with Spiffy, in every cache mode, with the closest
        decision margin seen. Exit 3 when a check fails.
          --device D          the device to check (default auto)
          --checkpoints a,b   checkpoint dirs for the logits check (each may hold io.safetensors with "input_ids")
          --reduced T         bfloat16 | float16 (default bfloat16)
          --model M           a trained model to decode with (default: {ModelSources.DefaultModel}; "none" = skip)
          --prompts FILE      GSM8K-format JSONL for it (default bench/problems/gsm-style.jsonl beside models/)
          --count N           prompts (default 2)
          --peaked SPEC.json  also decode random models of this architecture with a sharpened head
          --peak X            head scale of those models (default 8)   --seeds N (default 2)
          --prompt-length N   random prompt length for them (default 32)
          --gen-length N      (default 64)   --block-length N (default 32)
          -o FILE             also write the JSON here (atomic)   --json   print JSON instead of lines
        """;

    public IReadOnlySet<string> Flags { get; } = new HashSet<string> { "json" };

    public Task<int> RunAsync(Args args, CancellationToken cancel)
    {
        var requested = DeviceArgs.Read(args);
        var checkpoints = (args.String("checkpoints") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var reduced = (args.String("reduced") ?? "bfloat16") switch
        {
            "bfloat16" => ScalarType.BFloat16,
            "float16" => ScalarType.Float16,
            var other => throw new UsageException($"--reduced must be bfloat16 or float16 (got \"{other}\")"),
        };
        string? modelArg = args.String("model");
        string? promptsArg = args.String("prompts");
        int count = args.Int("count", 2, 1);
        string? peaked = args.String("peaked");
        double peak = args.Double("peak", 8);
        int seeds = args.Int("seeds", 2, 1), promptLength = args.Int("prompt-length", 32, 1);
        int gen = args.Int("gen-length", 64, 1), block = args.Int("block-length", 32, 1);
        string? output = args.String("output");
        bool json = args.Flag("json");
        args.EnsureAllUsed(0);
        void Log(string m) => Console.Error.WriteLine("[check-device] " + m);

        var device = DeviceArgs.Resolve(requested, quiet: json);
        DeviceAgreement.DisableTf32();
        var logits = new List<LogitsAgreement>();
        var decoding = new List<DecodingAgreement>();
        string Json()
        {
            using var ms = new MemoryStream();
            DeviceAgreement.WriteJson(ms, ComputeDevice.Name(device), logits, decoding);
            return System.Text.Encoding.UTF8.GetString(ms.ToArray());
        }
        // Written after every phase, so a run stopped by a time limit keeps what it measured.
        void Save() { if (output is not null) AtomicFile.WriteAllText(output, Json() + "\n"); }
        foreach (var dir in checkpoints)
        {
            var ids = InputIds(dir);
            using (ids)
                foreach (var l in DeviceAgreement.CompareLogits(dir, ids, device, reduced))
                {
                    Log($"logits {dir} {Checkpoint.DTypeName(l.DType)}: max |diff| {l.MaxAbsDiff:E2} (largest logit {l.MaxAbsReference:F2}) -> {(l.Passed ? "ok" : "FAILED")}");
                    logits.Add(l);
                }
            Save();
        }

        var options = new DecodingOptions { GenLength = gen, BlockLength = block };
        if (modelArg != "none")
        {
            string modelPath = ModelSources.Resolve(modelArg);
            using var cpu = SpiffyModel.Load(modelPath, ScalarType.Float32, ComputeDevice.Cpu);
            using var dev = Checkpoint.LoadModel(modelPath, ScalarType.Float32, device);
            dev.eval();
            string root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, ".."));
            var problems = PromptAnswerData.Read(promptsArg ?? Path.Combine(root, BenchCommand.DefaultProblems));
            var prompts = problems.Take(count).Select(p => cpu.EncodePrompt(PromptAnswerData.FormatPrompt(p.Prompt))).ToList();
            GraphSpec GraphFor(DecodingOptions o) => GraphCatalog.FindFor(modelPath, cpu.Spec, o)
                ?? DraftGraph.Chain(GraphCatalog.DefaultChainLength, GraphFiles.FromOptions(o), DraftGraph.TokensPerStep(o));
            decoding.AddRange(DeviceAgreement.CompareDecoding(cpu.Spec.Name, cpu.Transformer, dev, prompts, options, GraphFor, Log, cancel));
            Save();
        }
        if (peaked is not null)
        {
            var spec = ModelDescription.Load(peaked);
            for (int seed = 1; seed <= seeds; seed++)
            {
                string dir = Path.Combine(Path.GetTempPath(), $"spiffy-peaked-{Environment.ProcessId}-{seed}");
                try
                {
                    DeviceAgreement.WritePeakedCheckpoint(spec with { Checkpoint = "" }, seed, peak, dir);
                    using var cpu = Checkpoint.LoadModel(dir, ScalarType.Float32, CPU);
                    using var dev = Checkpoint.LoadModel(dir, ScalarType.Float32, device);
                    cpu.eval();
                    dev.eval();
                    var rng = new Random(seed);
                    var reserved = new HashSet<long> { spec.Tokens.Mask, spec.Tokens.Eos, spec.Tokens.Pad };
                    var prompt = new long[promptLength];
                    for (int i = 0; i < prompt.Length; i++)
                        do prompt[i] = rng.NextInt64(spec.VocabSize); while (reserved.Contains(prompt[i]));
                    GraphSpec Chain(DecodingOptions o) => DraftGraph.Chain(GraphCatalog.DefaultChainLength, GraphFiles.FromOptions(o), DraftGraph.TokensPerStep(o));
                    decoding.AddRange(DeviceAgreement.CompareDecoding($"{spec.Name}-peaked-seed{seed}", cpu, dev, new[] { prompt }, options, Chain, Log, cancel));
                    Save();
                }
                finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
            }
        }

        Save();
        if (json) Console.WriteLine(Json());
        bool ok = logits.All(l => l.Passed) && decoding.All(d => d.Identical);
        if (decoding.Count > 0)
            Log($"tokens: {decoding.Count(d => d.Identical)}/{decoding.Count} runs identical; closest token margin {decoding.Min(d => d.TokenMargin):E2}, closest selection margin {decoding.Min(d => d.SelectionMargin):E2}");
        Log(ok ? $"{ComputeDevice.Name(device)} agrees with the CPU" : $"{ComputeDevice.Name(device)} DISAGREES with the CPU");
        return Task.FromResult(ok ? 0 : 3);
    }

    /// <summary>The checkpoint's io.safetensors "input_ids" when present, else one row of ids 0..15 within the vocabulary.</summary>
    private static Tensor InputIds(string dir)
    {
        string io = Path.Combine(dir, "io.safetensors");
        if (File.Exists(io))
        {
            using var f = SafeTensorsFile.Open(io);
            if (f.Contains("input_ids")) return f.Read("input_ids", ScalarType.Int64);
        }
        using var ck = Checkpoint.Open(dir);
        const int length = 16;
        return arange(length, ScalarType.Int64).remainder(ck.Spec.VocabSize).unsqueeze(0);
    }
}
