using System.Text.Json;
using Spiffy.Checkpoints;
using Spiffy.Decoding;
using Spiffy.Devices;
using Spiffy.Modeling;
using Spiffy.Schema.Graphs;
using Spiffy.Schema.Models;
using Spiffy.Speculation;
using static TorchSharp.torch;

namespace Spiffy.Benchmarking;

/// <summary>One checkpoint's logits on the device against the CPU (float32 and a reduced dtype).</summary>
internal sealed record LogitsAgreement(string Checkpoint, ScalarType DType, double MaxAbsDiff, double MaxAbsReference, double Tolerance)
{
    /// <summary>float32 is compared absolutely; reduced dtypes relative to the logits' scale.</summary>
    public double Error => DType == ScalarType.Float32 ? MaxAbsDiff : MaxAbsDiff / Math.Max(1e-12, MaxAbsReference);
    public bool Passed => Error <= Tolerance;
}

/// <summary>One decoding configuration decoded on the device and on the CPU from the same weights.</summary>
internal sealed record DecodingAgreement(string Model, int Prompt, string Configuration, bool Spiffy, int FirstDifference,
    double TokenMargin, double SelectionMargin)
{
    public bool Identical => FirstDifference < 0;
}

/// <summary>
/// Checks that a device computes what the CPU computes: logits of small checkpoints (float32 tight,
/// a reduced dtype loose) and the decoded tokens of float32 models, token for token, with Spiffy on
/// and off in every cache mode. The closest decision margin seen on the CPU says how far from float
/// noise the decisions were: equal tokens with a large margin mean the device follows the same
/// decisions; a difference at a margin near float32 rounding is noise, not a defect.
/// </summary>
internal static class DeviceAgreement
{
    /// <summary>float32 logits: absolute difference allowed (the bound the reference parity tests use).</summary>
    public const double Float32Tolerance = 1e-4;
    /// <summary>Reduced dtypes: difference allowed relative to the largest reference logit (bfloat16 keeps 8 bits).</summary>
    public const double ReducedTolerance = 5e-2;

    /// <summary>The mode names and cache settings decoded (base decoders; each also with Spiffy).</summary>
    public static readonly (string Name, CacheMode Cache)[] Configurations =
    {
        ("no-cache", CacheMode.None), ("prefix-cache", CacheMode.Prefix), ("dual-cache", CacheMode.Dual)
    };

    /// <summary>Turns TF32 off for CUDA matmuls and convolutions, so float32 on the GPU is float32.</summary>
    public static void DisableTf32()
    {
        if (ComputeDevice.CudaCount() == 0) return;
        TorchSharp.torch.backends.cuda.matmul.allow_tf32 = false;
        TorchSharp.torch.backends.cudnn.allow_tf32 = false;
    }

    /// <summary>
    /// Logits of a checkpoint on <paramref name="device"/> in float32 and in <paramref name="reduced"/>
    /// against float32 on the CPU, over <paramref name="ids"/> [batch, length] (block-causal mask for SDAR).
    /// </summary>
    public static List<LogitsAgreement> CompareLogits(string checkpointDir, Tensor ids, Device device, ScalarType reduced)
    {
        var results = new List<LogitsAgreement>();
        using var cpu = Checkpoint.LoadModel(checkpointDir, ScalarType.Float32, CPU);
        using var reference = Logits(cpu, ids);
        double scale = reference.abs().max().item<float>();
        foreach (var dtype in new[] { ScalarType.Float32, reduced })
        {
            using var model = Checkpoint.LoadModel(checkpointDir, dtype, device);
            using var logits = Logits(model, ids);
            using var cpuLogits = logits.cpu();
            double diff = cpuLogits.sub(reference).abs().max().item<float>();
            results.Add(new LogitsAgreement(checkpointDir, dtype, diff, scale, dtype == ScalarType.Float32 ? Float32Tolerance : ReducedTolerance));
        }
        return results;
    }

    private static Tensor Logits(DiffusionTransformer model, Tensor ids)
    {
        model.eval();
        using var _ = inference_mode();
        using var scope = NewDisposeScope();
        var dev = model.Device;
        long len = ids.shape[1];
        var tokens = ids.to(ScalarType.Int64).to(dev);
        var positions = arange(len, ScalarType.Int64, dev).unsqueeze(0);
        Tensor? mask = model.Spec.Attention == AttentionKind.BlockCausal ? AttentionMasks.BlockCausal(model.Spec.AttentionBlockSize, (int)len, dev) : null;
        return model.Forward(ForwardRequest.Full(tokens, positions, mask)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Decodes every prompt on the CPU model and the device model (same float32 weights) in each
    /// configuration, plain and with Spiffy (<paramref name="graphFor"/> gives the graph), and
    /// compares the tokens. Margins are measured on the CPU run.
    /// </summary>
    public static List<DecodingAgreement> CompareDecoding(string name, DiffusionTransformer cpuModel, DiffusionTransformer deviceModel,
        IReadOnlyList<long[]> prompts, DecodingOptions options, Func<DecodingOptions, GraphSpec> graphFor, Action<string>? log = null,
        CancellationToken cancel = default)
    {
        var results = new List<DecodingAgreement>();
        var cpuDecoder = new DiffusionDecoder(cpuModel);
        var devDecoder = new DiffusionDecoder(deviceModel);
        foreach (var (config, cache) in Configurations)
        {
            var o = options with { Cache = cache };
            var graph = graphFor(o);
            foreach (bool spiffy in new[] { false, true })
                for (int p = 0; p < prompts.Count; p++)
                {
                    cancel.ThrowIfCancellationRequested();
                    var margins = new MarginObserver(o.Threshold, o.Unmasking == UnmaskingRule.Threshold
                        || o.Unmasking == UnmaskingRule.DynamicTopK, cpuModel.Spec.Tokens.Mask);
                    var onCpu = cpuDecoder.Generate(prompts[p], o, null, spiffy ? new GraphSpeculator(new DraftGraph(graph), o.BlockLength, graph.Keep)
                        : null, null, cancel, margins);
                    var onDevice = devDecoder.Generate(prompts[p], o, null, spiffy
                        ? new GraphSpeculator(new DraftGraph(graph), o.BlockLength, graph.Keep) : null, null, cancel);
                    int diff = FirstDifference(onCpu.TokenIds, onDevice.TokenIds);
                    var r = new DecodingAgreement(name, p, config, spiffy, diff, margins.Token, margins.Selection);
                    log?.Invoke($"{name} prompt {p} {config}{(spiffy ? "+spiffy" : "")}: {(r.Identical ? "identical" : $"DIFFERS at {diff}")}, closest token "
                        + $"margin {r.TokenMargin:E2}, selection margin {r.SelectionMargin:E2}");
                    results.Add(r);
                }
        }
        return results;
    }

    /// <summary>
    /// A random model whose distributions are sharpened by scaling the output head by
    /// <paramref name="peak"/>, so greedy decisions sit far from float noise. Saved as a checkpoint
    /// in <paramref name="dir"/> so both devices load the same bytes.
    /// </summary>
    public static void WritePeakedCheckpoint(ModelSpec spec, long seed, double peak, string dir)
    {
        using var model = new DiffusionTransformer(spec, ScalarType.Float32, CPU);
        model.InitializeRandom(seed);
        using (no_grad())
        {
            var weights = model.NamedWeights();
            weights[weights.ContainsKey("lm_head") ? "lm_head" : "final_norm"].mul_(peak);
        }
        Checkpoint.Save(model, dir);
    }

    private static int FirstDifference(long[] a, long[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++) if (a[i] != b[i]) return i;
        return a.Length == b.Length ? -1 : n;
    }

    /// <summary>Writes the results as one JSON object.</summary>
    public static void WriteJson(Stream stream, string device, IReadOnlyList<LogitsAgreement> logits, IReadOnlyList<DecodingAgreement> decoding)
    {
        using var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteString("device", device);
        w.WriteString("libtorch", NativeBackend.Describe());
        w.WriteBoolean("tf32", ComputeDevice.CudaCount() > 0 && TorchSharp.torch.backends.cuda.matmul.allow_tf32);
        w.WriteString("machine", BenchReport.DescribeMachine());
        w.WriteString("date", DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", System.Globalization.CultureInfo.InvariantCulture));
        w.WriteBoolean("logits_within_tolerance", logits.All(l => l.Passed));
        w.WriteBoolean("all_tokens_identical", decoding.All(d => d.Identical));
        if (decoding.Count > 0)
        {
            Number(w, "closest_token_margin", decoding.Min(d => d.TokenMargin));
            Number(w, "closest_selection_margin", decoding.Min(d => d.SelectionMargin));
        }
        w.WriteStartArray("logits");
        foreach (var l in logits)
        {
            w.WriteStartObject();
            w.WriteString("checkpoint", l.Checkpoint);
            w.WriteString("dtype", Checkpoint.DTypeName(l.DType));
            Number(w, "max_abs_diff", l.MaxAbsDiff);
            Number(w, "max_abs_reference", l.MaxAbsReference);
            Number(w, "error", l.Error);
            w.WriteNumber("tolerance", l.Tolerance);
            w.WriteBoolean("passed", l.Passed);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("decoding");
        foreach (var d in decoding)
        {
            w.WriteStartObject();
            w.WriteString("model", d.Model);
            w.WriteNumber("prompt", d.Prompt);
            w.WriteString("configuration", d.Configuration);
            w.WriteBoolean("spiffy", d.Spiffy);
            w.WriteBoolean("identical", d.Identical);
            w.WriteNumber("first_difference", d.FirstDifference);
            Number(w, "token_margin", d.TokenMargin);
            Number(w, "selection_margin", d.SelectionMargin);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>A figure that is not finite (a margin no decision set, a NaN from a broken device) is written as null.</summary>
    private static void Number(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    /// <summary>
    /// The closest greedy decisions of a run (probability confidence): the gap between the chosen
    /// token's probability and the runner-up's at every committed position, and the gap between the
    /// least confident committed position and the most confident one left masked (and, for threshold
    /// rules, each confidence's distance to the threshold).
    /// </summary>
    private sealed class MarginObserver : IDecodeObserver
    {
        private readonly double _threshold;
        private readonly bool _thresholdRule;
        private readonly long _mask;

        public MarginObserver(double threshold, bool thresholdRule, long mask) { _threshold = threshold; _thresholdRule = thresholdRule; _mask = mask; }

        public double Token { get; private set; } = double.PositiveInfinity;
        public double Selection { get; private set; } = double.PositiveInfinity;
        public int TopTokenRanks => 2;

        public void OnForward(int sequence, int block, ForwardKind kind, int rows) { }

        public void OnStep(int sequence, int block, int stepInBlock, ReadOnlySpan<long> before, ReadOnlySpan<double> topProbs,
            ReadOnlySpan<long> topTokens, ReadOnlySpan<long> after, bool free)
        {
            double lowestCommitted = double.PositiveInfinity, highestLeft = double.NegativeInfinity;
            int mostConfident = -1;
            for (int i = 0; i < before.Length; i++)
            {
                if (before[i] != _mask) continue;
                double p1 = topProbs[i * 2];
                if (mostConfident < 0 || p1 > topProbs[mostConfident * 2]) mostConfident = i;
                if (after[i] == _mask) { highestLeft = Math.Max(highestLeft, p1); continue; }
                Token = Math.Min(Token, p1 - topProbs[i * 2 + 1]);
                lowestCommitted = Math.Min(lowestCommitted, p1);
            }
            if (highestLeft > double.NegativeInfinity && lowestCommitted < double.PositiveInfinity)
                Selection = Math.Min(Selection, lowestCommitted - highestLeft);
            if (!_thresholdRule) return;
            // Every masked position but the most confident one (always taken) is decided by the threshold.
            for (int i = 0; i < before.Length; i++)
                if (before[i] == _mask && i != mostConfident) Selection = Math.Min(Selection, Math.Abs(topProbs[i * 2] - _threshold));
        }
    }
}
