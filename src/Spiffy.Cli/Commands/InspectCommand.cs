using System.Globalization;
using System.CommandLine;
using Spiffy.Cli.CommandLine;
using Spiffy.Schema.Models;

namespace Spiffy.Cli.Commands;

/// <summary>`spiffy inspect`: architecture, parameter count, memory per dtype, tensor-name table.</summary>
public sealed class InspectCommand : IVerb
{
    private readonly DeviceOptionSet _device = new();
    private readonly Option<bool> _load = new("--load")
    {
        Description = "load the weights onto the device (--device, --dtype) and report the load time, the bytes they take there and the peak host memory"
    };
    private readonly Argument<string> _model = new("model")
    {
        Description = "model description (models/*.json) or checkpoint directory", HelpName = "model.json|checkpoint-dir"
    };

    public InspectCommand()
    {
        Command = new VerbCommand("inspect",
            "print a model's architecture, parameter count, memory and tensor names",
            "Print the architecture a model description (or a Hugging Face checkpoint's config.json) defines, its parameter "
            + "count, the memory its weights take at each dtype, and the mapping from the runtime's tensor names to the "
            + "checkpoint's. No weights are read unless --load; --device/--dtype add the memory on that device.",
            "spiffy inspect models/llada-8b-instruct.json          # 8.02B parameters, memory, tensor names",
            "spiffy inspect checkpoints/gsm8k-small --json         # the same as one JSON object",
            "spiffy inspect checkpoints/gsm8k-small --load --device cuda   # load time, bytes on the GPU, peak host memory")
        { _model, _load };
        _device.AddTo(Command);
    }

    public VerbCommand Command { get; }

    public Task<int> RunAsync(ParseResult parse, CliOutput output, CancellationToken cancel)
    {
        bool json = output.Json;
        var spec = ModelSources.LoadSpec(parse.GetValue(_model)!);
        long n = spec.ParameterCount;
        var table = TensorTable(spec);
        // Memory on a device: only when one was named or the weights are loaded (plain inspect reads no libtorch).
        bool deviceGiven = parse.GetResult(_device.Device) is not null || (_device.DType is not null && parse.GetResult(_device.DType) is not null);
        DeviceMemory? onDevice = deviceGiven || parse.GetValue(_load)
            ? DeviceMemory.Measure(parse.GetValue(_model)!, spec, _device.Resolve(parse, output), _device.RequestedDType(parse), parse.GetValue(_load))
            : null;
        if (json)
        {
            CliOutput.WriteJson(w =>
            {
                w.WriteString("name", spec.Name);
                w.WriteString("family", spec.Family);
                w.WriteNumber("parameters", n);
                w.WriteStartObject("bytes");
                w.WriteNumber("float32", n * 4);
                w.WriteNumber("bfloat16", n * 2);
                w.WriteNumber("float16", n * 2);
                w.WriteEndObject();
                w.WriteNumber("hidden_size", spec.HiddenSize);
                w.WriteNumber("num_layers", spec.NumLayers);
                w.WriteNumber("num_heads", spec.NumHeads);
                w.WriteNumber("num_kv_heads", spec.NumKvHeads);
                w.WriteNumber("head_dim", spec.HeadDim);
                w.WriteNumber("intermediate_size", spec.IntermediateSize);
                w.WriteNumber("vocab_size", spec.VocabSize);
                w.WriteString("attention", spec.Attention == AttentionKind.BlockCausal ? "block_causal" : "bidirectional");
                w.WriteNumber("logit_shift", spec.LogitShift);
                onDevice?.WriteJson(w);
                w.WriteStartObject("tensors");
                foreach (var (internalName, checkpointName, shape) in table) w.WriteString(internalName, checkpointName);
                w.WriteEndObject();
            });
            return Task.FromResult(0);
        }
        var ci = CultureInfo.InvariantCulture;
        output.Result($"{spec.Name} ({spec.Family})");
        output.Result(string.Create(ci,
            $"  hidden {spec.HiddenSize}, layers {spec.NumLayers}, heads {spec.NumHeads} (kv {spec.NumKvHeads}, head dim {spec.HeadDim}), "
            + $"MLP {spec.IntermediateSize}, vocab {spec.VocabSize}"));
        output.Result(string.Create(ci,
            $"  RoPE theta {spec.RopeTheta}, RMSNorm eps {spec.NormEps}, q/k/v bias {spec.QkvBias}, q/k norm {spec.QkNorm}, tied head {spec.TieEmbeddings}"));
        output.Result(string.Create(ci,
            $"  attention {(spec.Attention == AttentionKind.BlockCausal ? $"block-causal (block {spec.AttentionBlockSize})" : "bidirectional")}, logit "
            + $"shift {spec.LogitShift}, context {spec.MaxSequenceLength}"));
        output.Result(string.Create(ci, $"  tokens: mask {spec.Tokens.Mask}, eos {spec.Tokens.Eos}, pad {spec.Tokens.Pad}"));
        output.Result(string.Create(ci, $"  parameters {n:N0} ({n / 1e9:F2}B)"));
        output.Result(string.Create(ci, $"  memory: float32 {Gib(n * 4)}, bfloat16 {Gib(n * 2)}, float16 {Gib(n * 2)}"));
        if (onDevice is not null) output.Result("  " + onDevice.Describe());
        output.Result("  tensors (runtime name -> checkpoint name, shape; per layer shown for layer 0):");
        foreach (var (internalName, checkpointName, shape) in table)
            output.Result($"    {internalName,-22} {checkpointName,-55} {shape}");
        return Task.FromResult(0);
    }

    internal static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("F2", CultureInfo.InvariantCulture) + " GiB";

    /// <summary>(runtime name, checkpoint name, shape) for the model-level tensors and layer 0.</summary>
    internal static List<(string, string, string)> TensorTable(ModelSpec s)
    {
        var n = s.Names;
        long h = s.HiddenSize, q = (long)s.NumHeads * s.HeadDim, kv = (long)s.NumKvHeads * s.HeadDim, m = s.IntermediateSize;
        string L(string t) => t.Replace("{i}", "0", StringComparison.Ordinal);
        var rows = new List<(string, string, string)>
        {
            ("embed", n.Embed, $"[{s.VocabSize}, {h}]"),
            ("final_norm", n.FinalNorm, $"[{h}]"),
        };
        rows.Add(("lm_head", s.TieEmbeddings ? "(tied to embed)" : n.LmHead, $"[{s.VocabSize}, {h}]"));
        rows.Add(("layers.0.attn_norm", L(n.AttnNorm), $"[{h}]"));
        rows.Add(("layers.0.q_proj", L(n.QProj), $"[{q}, {h}]"));
        rows.Add(("layers.0.k_proj", L(n.KProj), $"[{kv}, {h}]"));
        rows.Add(("layers.0.v_proj", L(n.VProj), $"[{kv}, {h}]"));
        rows.Add(("layers.0.o_proj", L(n.OProj), $"[{h}, {q}]"));
        if (s.QkvBias)
        {
            rows.Add(("layers.0.q_bias", L(n.QBias), $"[{q}]"));
            rows.Add(("layers.0.k_bias", L(n.KBias), $"[{kv}]"));
            rows.Add(("layers.0.v_bias", L(n.VBias), $"[{kv}]"));
        }
        if (s.QkNorm)
        {
            rows.Add(("layers.0.q_norm", L(n.QNorm), $"[{s.HeadDim}]"));
            rows.Add(("layers.0.k_norm", L(n.KNorm), $"[{s.HeadDim}]"));
        }
        rows.Add(("layers.0.mlp_norm", L(n.MlpNorm), $"[{h}]"));
        rows.Add(("layers.0.gate_proj", L(n.GateProj), $"[{m}, {h}]"));
        rows.Add(("layers.0.up_proj", L(n.UpProj), $"[{m}, {h}]"));
        rows.Add(("layers.0.down_proj", L(n.DownProj), $"[{h}, {m}]"));
        return rows;
    }
}
