using Spiffy.Schema.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

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

    /// <summary>Runs the transformer; returns logits [R, LogitLength, vocab] in float32.</summary>
    public Tensor Forward(in ForwardRequest req)
    {
        using var scope = NewDisposeScope();
        long rows = req.Tokens.shape[0], t = req.Tokens.shape[1];
        var h = embed.index_select(0, req.Tokens.reshape(-1)).view(rows, t, Spec.HiddenSize);
        // RoPE tables for these positions: angles = pos * inv_freq, duplicated as cat(f, f).
        var angles = req.Positions.to(float32).unsqueeze(-1).mul(_invFreq);
        angles = cat(new[] { angles, angles }, -1).unsqueeze(1); // [R|1, 1, T, d]
        var cos = angles.cos().to(DType);
        var sin = angles.sin().to(DType);
        for (int i = 0; i < layers.Count; i++) h = layers[i].Forward(h, cos, sin, req, i);
        int start = req.LogitStart, len = req.LogitLength < 0 ? (int)t - start : req.LogitLength;
        if (start != 0 || len != t) h = h.narrow(1, start, len);
        h = RmsNorm.Apply(h, final_norm, Spec.NormEps);
        var logits = F.linear(h, lm_head ?? embed).to(float32);
        return logits.MoveToOuterDisposeScope();
    }
}
