using Spiffy.Native;
using Spiffy.Schema.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Spiffy.Modeling;

/// <summary>
/// The one transformer for every supported family (LLaDA, Dream, SDAR), configured by a
/// <see cref="ModelSpec"/>: pre-norm blocks with RMSNorm, rotate-half RoPE on explicit positions,
/// grouped-query attention (bidirectional or block-causal via masks), optional q/k/v biases,
/// optional per-head q/k RMSNorm, SiLU-gated MLP, tied or untied head. Returns raw logits: the
/// Dream logit shift is a decoding convention and lives in the decoders.
/// </summary>
internal sealed class DiffusionTransformer : nn.Module
{
    private readonly Parameter embed;
    private readonly ModuleList<TransformerLayer> layers;
    private readonly Parameter final_norm;
    private readonly Parameter? lm_head;
    private readonly Tensor _invFreq;
    private readonly TransformerLayer[] _layers; // the same modules as `layers`, indexed without a list wrapper
    private readonly NativeScalar _eps;

    public DiffusionTransformer(ModelSpec spec, ScalarType dtype, Device? device = null) : base("DiffusionTransformer")
    {
        // Before anything is allocated: a description with absurd sizes fails here, not inside torch.
        if ((device ?? CPU).type == DeviceType.CPU) Spiffy.Limits.MemoryBudget.EnsureModelFits(spec, ElementBytes(dtype));
        Spec = spec;
        DType = dtype;
        Device = device ?? CPU;
        embed = new Parameter(empty(new long[] { spec.VocabSize, spec.HiddenSize }, dtype, Device));
        layers = new ModuleList<TransformerLayer>();
        for (int i = 0; i < spec.NumLayers; i++) layers.Add(new TransformerLayer(spec, dtype, Device));
        final_norm = new Parameter(ones(new long[] { spec.HiddenSize }, dtype, Device));
        if (!spec.TieEmbeddings) lm_head = new Parameter(empty(new long[] { spec.VocabSize, spec.HiddenSize }, dtype, Device));
        // inv_freq = 1 / theta^(arange(0, d, 2) / d), float32 (all three families).
        using (no_grad())
            _invFreq = pow(spec.RopeTheta, arange(0, spec.HeadDim, 2, float64, Device).div(spec.HeadDim)).reciprocal().to(float32);
        _layers = layers.ToArray();
        _eps = NativeScalar.Of(spec.NormEps);
        RegisterComponents();
    }

    private static int ElementBytes(ScalarType dtype)
    {
        using var probe = empty(0, dtype);
        return (int)probe.ElementSize;
    }

    public ModelSpec Spec { get; }
    public ScalarType DType { get; }
    public Device Device { get; }

    /// <summary>
    /// Name -> parameter in this module's own naming ("embed", "layers.3.q_proj", ...). The
    /// checkpoint code maps these to the names a checkpoint uses (see <see cref="ModelSpec.Names"/>).
    /// </summary>
    public IReadOnlyDictionary<string, Parameter> NamedWeights()
    {
        var d = new Dictionary<string, Parameter>(StringComparer.Ordinal);
        foreach (var (name, p) in named_parameters()) d[name] = p;
        return d;
    }

    /// <summary>Random init (normal, std 0.02; norms at 1; output projections scaled by depth) for training from scratch.</summary>
    public void InitializeRandom(long seed)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var gen = new Generator((ulong)seed, Device);
        float std = 0.02f, outStd = std / MathF.Sqrt(2f * Spec.NumLayers);
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("norm", StringComparison.Ordinal)) p.fill_(1.0);
            else if (name.EndsWith("bias", StringComparison.Ordinal)) p.zero_();
            else if (name.EndsWith("o_proj", StringComparison.Ordinal) || name.EndsWith("down_proj", StringComparison.Ordinal)) p.normal_(0, outStd, gen);
            else p.normal_(0, std, gen);
        }
    }

    /// <summary>
    /// Runs the transformer; returns logits [R, LogitLength, vocab] in float32 as a TorchSharp tensor (training,
    /// tools and tests; autograd records it as usual). The decode loop calls <see cref="ForwardNative"/>.
    /// </summary>
    public Tensor Forward(in ForwardRequest req)
    {
        using var scope = TensorArena.Open();
        return scope.Return(ForwardNative(req)).ToTorchSharp();
    }

    /// <summary>
    /// The forward on native handles: logits [R, LogitLength, vocab] in float32, owned by the caller's open
    /// <see cref="TensorArena"/> scope; everything else it makes is freed before it returns. Allocates nothing managed.
    /// </summary>
    public NativeTensor ForwardNative(in ForwardRequest req)
    {
        using var scope = TensorArena.Open();
        long rows = req.Tokens.Size(0), t = req.Tokens.Size(1);
        var h = NativeTensor.Of(embed).IndexSelect(0, req.Tokens.Reshape(-1)).View(rows, t, Spec.HiddenSize);
        // RoPE tables for these positions: angles = pos * inv_freq, duplicated as cat(f, f).
        var angles = req.Positions.To(ScalarType.Float32).Unsqueeze(-1).Mul(NativeTensor.Of(_invFreq));
        angles = NativeTensor.Cat([angles, angles], -1).Unsqueeze(1); // [R|1, 1, T, d]
        var cos = angles.Cos().To(DType);
        var sin = angles.Sin().To(DType);
        for (int i = 0; i < _layers.Length; i++) h = _layers[i].Forward(h, cos, sin, req, i);
        int start = req.LogitStart, len = req.LogitLength < 0 ? (int)t - start : req.LogitLength;
        if (start != 0 || len != t) h = h.Narrow(1, start, len);
        h = RmsNorm.Apply(h, NativeTensor.Of(final_norm), _eps);
        var logits = NativeTensor.Linear(h, NativeTensor.Of(lm_head ?? embed)).To(ScalarType.Float32);
        return scope.Return(logits);
    }
}
