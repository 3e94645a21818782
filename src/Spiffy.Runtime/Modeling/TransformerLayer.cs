using Spiffy.Native;
using Spiffy.Schema.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Spiffy.Modeling;

/// <summary>
/// One pre-norm block: attention (with optional biases and per-head q/k norm) and a SiLU-gated MLP. It runs on
/// native handles (<see cref="NativeTensor"/>) inside the caller's arena scope: the libtorch calls and arguments of
/// TorchSharp's eager API, without a managed wrapper per result.
/// </summary>
internal sealed class TransformerLayer : nn.Module
{
    private readonly Parameter attn_norm, q_proj, k_proj, v_proj, o_proj, mlp_norm, gate_proj, up_proj, down_proj;
    private readonly Parameter? q_bias, k_bias, v_bias, q_norm, k_norm;
    private readonly ModelSpec _spec;
    private readonly NativeScalar _scale, _eps;

    public TransformerLayer(ModelSpec spec, ScalarType dtype, Device device) : base("TransformerLayer")
    {
        _spec = spec;
        long h = spec.HiddenSize, q = (long)spec.NumHeads * spec.HeadDim, kv = (long)spec.NumKvHeads * spec.HeadDim;
        Parameter P(params long[] shape) => new Parameter(empty(shape, dtype, device));
        attn_norm = new Parameter(ones(new long[] { h }, dtype, device));
        mlp_norm = new Parameter(ones(new long[] { h }, dtype, device));
        q_proj = P(q, h); k_proj = P(kv, h); v_proj = P(kv, h); o_proj = P(h, q);
        gate_proj = P(spec.IntermediateSize, h); up_proj = P(spec.IntermediateSize, h); down_proj = P(h, spec.IntermediateSize);
        if (spec.QkvBias) { q_bias = P(q); k_bias = P(kv); v_bias = P(kv); }
        if (spec.QkNorm)
        {
            q_norm = new Parameter(ones(new long[] { spec.HeadDim }, dtype, device));
            k_norm = new Parameter(ones(new long[] { spec.HeadDim }, dtype, device));
        }
        _scale = NativeScalar.Of(1.0 / Math.Sqrt(spec.HeadDim));
        _eps = NativeScalar.Of(spec.NormEps);
        RegisterComponents();
    }

    public NativeTensor Forward(NativeTensor x, NativeTensor cos, NativeTensor sin, in ForwardRequest req, int layerIndex)
    {
        var a = Attention(RmsNorm.Apply(x, NativeTensor.Of(attn_norm), _eps), cos, sin, req, layerIndex);
        x = x.Add(a);
        var m = RmsNorm.Apply(x, NativeTensor.Of(mlp_norm), _eps);
        // LLaDA's ff_proj / Qwen's gate_proj is the activated branch.
        var gate = NativeTensor.Linear(m, NativeTensor.Of(gate_proj)).Silu();
        var mlp = NativeTensor.Linear(gate.Mul(NativeTensor.Linear(m, NativeTensor.Of(up_proj))), NativeTensor.Of(down_proj));
        return x.Add(mlp);
    }

    private NativeTensor Attention(NativeTensor x, NativeTensor cos, NativeTensor sin, in ForwardRequest req, int layerIndex)
    {
        long r = x.Size(0), t = x.Size(1);
        int nh = _spec.NumHeads, nkv = _spec.NumKvHeads, d = _spec.HeadDim, g = _spec.GroupSize;
        var q = NativeTensor.Linear(x, NativeTensor.Of(q_proj), NativeTensor.OfOptional(q_bias)).View(r, t, nh, d).Transpose(1, 2);   // [R, H, T, d]
        var k = NativeTensor.Linear(x, NativeTensor.Of(k_proj), NativeTensor.OfOptional(k_bias)).View(r, t, nkv, d).Transpose(1, 2);  // [R, Hkv, T, d]
        var v = NativeTensor.Linear(x, NativeTensor.Of(v_proj), NativeTensor.OfOptional(v_bias)).View(r, t, nkv, d).Transpose(1, 2);
        if (q_norm is not null && k_norm is not null)
        {
            // SDAR (Qwen3): per-head RMSNorm on q and k, before RoPE.
            q = RmsNorm.Apply(q, NativeTensor.Of(q_norm), _eps);
            k = RmsNorm.Apply(k, NativeTensor.Of(k_norm), _eps);
        }
        q = Rope(q, cos, sin);
        k = Rope(k, cos, sin);

        if (req.WriteStart >= 0) req.Cache!.Write(layerIndex, req.WriteStart, k, v);

        NativeTensor o;
        if (req.ContextLength == 0) o = SelfOnly(q, k, v, req.SelfMask, g);
        else o = WithContext(q, k, v, req, layerIndex, g);
        o = o.Transpose(1, 2).Reshape(r, t, (long)nh * d);
        return NativeTensor.Linear(o, NativeTensor.Of(o_proj));
    }

    private static NativeTensor Rope(NativeTensor x, NativeTensor cos, NativeTensor sin)
    {
        // rotate_half(x) = cat(-x[d/2:], x[:d/2])
        long half = x.Size(3) / 2;
        var x1 = x.Narrow(3, 0, half);
        var x2 = x.Narrow(3, half, half);
        var rotated = NativeTensor.Cat([x2.Neg(), x1], 3);
        return x.Mul(cos).Add(rotated.Mul(sin));
    }

    /// <summary>Rows attend only to their own tokens: fused attention (also the training path).</summary>
    private static NativeTensor SelfOnly(NativeTensor q, NativeTensor k, NativeTensor v, NativeTensor mask, int g)
    {
        if (g > 1)
        {
            k = RepeatKv(k, g);
            v = RepeatKv(v, g);
        }
        return NativeTensor.ScaledDotProductAttention(q, k, v, mask);
    }

    private static NativeTensor RepeatKv(NativeTensor kv, int g)
    {
        long r = kv.Size(0), n = kv.Size(1), t = kv.Size(2), d = kv.Size(3);
        return kv.Unsqueeze(2).Expand(r, n, g, t, d).Reshape(r, n * g, t, d);
    }

    /// <summary>
    /// Rows attend to a shared cached context plus their own tokens. The R rows form Bc groups of
    /// m = R / Bc rows; each group's rows are folded into the query dimension so the context keys
    /// and values (one copy per sequence) are never copied per row. One softmax spans context and
    /// own keys, so the result equals attention over the concatenated keys.
    /// </summary>
    private NativeTensor WithContext(NativeTensor q, NativeTensor k, NativeTensor v, in ForwardRequest req, int layerIndex, int g)
    {
        var cache = req.Cache!;
        long r = q.Size(0), t = q.Size(2), d = q.Size(3);
        int nkv = _spec.NumKvHeads, c = req.ContextLength;
        long bc = cache.Batch, m = r / bc;
        if (m * bc != r) throw new ArgumentException($"{r} rows do not split into {bc} cached sequences");
        var kc = cache.Keys(layerIndex, c);    // [Bc, Hkv, C, d]
        var vc = cache.Values(layerIndex, c);

        // Context scores: [Bc, Hkv, m*g*T, C].
        var qFold = q.Reshape(bc, m, nkv, g * t, d).Transpose(1, 2).Reshape(bc, nkv, m * g * t, d);
        var sc = qFold.MatMul(kc.Transpose(2, 3)).Mul(_scale).To(ScalarType.Float32);
        if (!req.ContextMask.IsNull) sc = sc.MaskedFill(req.ContextMask.LogicalNot(), NativeScalar.NegativeInfinity);
        // Unfold back to rows: [R, Hkv, g*T, C].
        sc = sc.View(bc, nkv, m, g * t, c).Transpose(1, 2).Reshape(r, nkv, g * t, c);

        // Own scores: [R, Hkv, g*T, T].
        var qRows = q.Reshape(r, nkv, g * t, d);
        var ss = qRows.MatMul(k.Transpose(2, 3)).Mul(_scale).To(ScalarType.Float32);
        if (!req.SelfMask.IsNull)
        {
            var mask = req.SelfMask.Unsqueeze(2); // [R|1, 1, 1, T, T] broadcast over the g heads of a group
            ss = ss.View(r, nkv, g, t, t).MaskedFill(mask.LogicalNot(), NativeScalar.NegativeInfinity).View(r, nkv, g * t, t);
        }

        var p = NativeTensor.Cat([sc, ss], 3).Softmax(3).To(q.DType);
        var pc = p.Narrow(3, 0, c);
        var ps = p.Narrow(3, c, t);
        var pcFold = pc.Reshape(bc, m, nkv, g * t, c).Transpose(1, 2).Reshape(bc, nkv, m * g * t, c);
        var oc = pcFold.MatMul(vc).View(bc, nkv, m, g * t, d).Transpose(1, 2).Reshape(r, nkv, g * t, d);
        var os = ps.MatMul(v);
        return oc.Add(os).Reshape(r, nkv * g, t, d);
    }
}
