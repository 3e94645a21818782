using System.CommandLine;
using Spiffy.Files;
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
public sealed class CheckDeviceCommand : IVerb
{
    private readonly DeviceOptionSet _device = new(withDType: false);
    private readonly Option<string?> _checkpoints = new("--checkpoints")
    {
        Description = "checkpoint dirs for the logits check (each may hold io.safetensors with \"input_ids\")", HelpName = "a,b,..."
    };
    private readonly Option<string?> _reduced = new("--reduced")
    {
        Description = "the reduced dtype of the logits check (default bfloat16)", HelpName = "bfloat16|float16"
    };
    private readonly Option<string?> _model = SharedOptions.Model();
    private readonly Option<string?> _prompts = new("--prompts")
    {
        Description = "GSM8K-format JSONL for --model (default bench/problems/gsm-style.jsonl beside models/)", HelpName = "FILE"
    };
    private readonly Option<int?> _count = SharedOptions.Positive(
        new Option<int?>("--count") { Description = "prompts of --model (default 2)", HelpName = "N" });
    private readonly Option<string?> _peaked = new("--peaked")
    {
        Description = "also decode random models of this architecture with a sharpened head", HelpName = "model.json"
    };
    private readonly Option<double?> _peak = new("--peak") { Description = "head scale of the --peaked models (default 8)", HelpName = "X" };
    private readonly Option<int?> _seeds = SharedOptions.Positive(new Option<int?>("--seeds") { Description = "--peaked models (default 2)", HelpName = "N" });
    private readonly Option<int?> _promptLength = SharedOptions.Positive(new Option<int?>("--prompt-length")
    {
        Description = "random prompt length of the --peaked models (default 32)", HelpName = "N"
    });
    private readonly Option<int?> _gen = SharedOptions.GenLength("64");
    private readonly Option<int?> _block = SharedOptions.BlockLength("32");
    private readonly Option<string?> _output = new("--output", "-o")
    {
        Description = "also write the JSON here (atomic; rewritten after every phase)", HelpName = "FILE.json"
    };

    public CheckDeviceCommand()
    {
        _reduced.AcceptOnlyFromAmong("bfloat16", "float16");
        Command = new VerbCommand("check-device",
            "compare a device (CUDA) with the CPU: logits and decoded tokens",
            $"Compare a device with the CPU, TF32 off: logits of small checkpoints in float32 (absolute tolerance {DeviceAgreement.Float32Tolerance}) "
            + $"and in a reduced dtype (relative {DeviceAgreement.ReducedTolerance}), then the tokens decoded by float32 models, plain and with "
            + "Spiffy, in every cache mode, with the closest decision margin seen (docs/gpu.md). --model none skips the trained model. "
            + "Exit 3 when a check fails.",
            "spiffy check-device --device cuda --checkpoints tests/reference/vectors/llada --peaked models/gsm8k-small.json")
        { _checkpoints, _reduced, _model, _prompts, _count, _peaked, _peak, _seeds, _promptLength, _gen, _block, _output };
        _device.AddTo(Command);
    }

    public VerbCommand Command { get; }

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        var checkpoints = (parse.GetValue(_checkpoints) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var reduced = parse.GetValue(_reduced) == "float16" ? ScalarType.Float16 : ScalarType.BFloat16;
        string? modelArg = parse.GetValue(_model);
        string? promptsArg = parse.GetValue(_prompts);
        int count = parse.GetValue(_count) ?? 2;
        string? peaked = parse.GetValue(_peaked);
        double peak = parse.GetValue(_peak) ?? 8;
        int seeds = parse.GetValue(_seeds) ?? 2, promptLength = parse.GetValue(_promptLength) ?? 32;
        int gen = parse.GetValue(_gen) ?? 64, block = parse.GetValue(_block) ?? 32;
        string? outputFile = parse.GetValue(_output);
        bool json = output.Json;
        void Log(string m) => output.Log("[check-device] " + m);
        var device = _device.Resolve(parse, output);

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
        void Save() { if (outputFile is not null) AtomicFile.WriteAllText(outputFile, Json() + "\n"); }
        foreach (var dir in checkpoints)
        {
            var ids = InputIds(dir);
            using (ids)
                foreach (var l in DeviceAgreement.CompareLogits(dir, ids, device, reduced))
                {
                    Log($"logits {dir} {Checkpoint.DTypeName(l.DType)}: max |diff| {l.MaxAbsDiff:E2} (largest logit {l.MaxAbsReference:F2}) "
                        + $"-> {(l.Passed ? "ok" : "FAILED")}");
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
            GraphSpec GraphFor(DecodingOptions o) => GraphCatalog.FindFor(modelPath, cpu.Spec, o, output)
                ?? DraftGraph.Chain(GraphCatalog.DefaultChainLength, o.ToSchema(), DraftGraph.TokensPerStep(o));
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
                    GraphSpec Chain(DecodingOptions o) => DraftGraph.Chain(GraphCatalog.DefaultChainLength, o.ToSchema(), DraftGraph.TokensPerStep(o));
                    decoding.AddRange(DeviceAgreement.CompareDecoding($"{spec.Name}-peaked-seed{seed}", cpu, dev, new[] { prompt },
                        options, Chain, Log, cancel));
                    Save();
                }
                finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
            }
        }

        Save();
        if (json) { Console.Out.Write(Json()); Console.WriteLine(); }
        bool ok = logits.All(l => l.Passed) && decoding.All(d => d.Identical);
        if (decoding.Count > 0)
            Log($"tokens: {decoding.Count(d => d.Identical)}/{decoding.Count} runs identical; closest token margin {decoding.Min(d => d.TokenMargin):E2}, "
                + $"closest selection margin {decoding.Min(d => d.SelectionMargin):E2}");
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
