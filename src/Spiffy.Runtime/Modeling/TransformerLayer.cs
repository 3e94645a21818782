using Spiffy.Schema.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Spiffy.Modeling;

/// <summary>One pre-norm block: attention (with optional biases and per-head q/k norm) and a SiLU-gated MLP.</summary>
internal sealed class TransformerLayer : nn.Module
{
    private readonly Parameter attn_norm, q_proj, k_proj, v_proj, o_proj, mlp_norm, gate_proj, up_proj, down_proj;
    private readonly Parameter? q_bias, k_bias, v_bias, q_norm, k_norm;
    private readonly ModelSpec _spec;
    private readonly double _scale;

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
        _scale = 1.0 / Math.Sqrt(spec.HeadDim);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, in ForwardRequest req, int layerIndex)
    {
        var a = Attention(RmsNorm.Apply(x, attn_norm, _spec.NormEps), cos, sin, req, layerIndex);
        x = x.add(a);
        var m = RmsNorm.Apply(x, mlp_norm, _spec.NormEps);
        // LLaDA's ff_proj / Qwen's gate_proj is the activated branch.
        var mlp = F.linear(F.silu(F.linear(m, gate_proj)).mul(F.linear(m, up_proj)), down_proj);
        return x.add(mlp);
    }

    private Tensor Attention(Tensor x, Tensor cos, Tensor sin, in ForwardRequest req, int layerIndex)
    {
        long r = x.shape[0], t = x.shape[1];
        int nh = _spec.NumHeads, nkv = _spec.NumKvHeads, d = _spec.HeadDim, g = _spec.GroupSize;
        var q = F.linear(x, q_proj, q_bias).view(r, t, nh, d).transpose(1, 2);   // [R, H, T, d]
        var k = F.linear(x, k_proj, k_bias).view(r, t, nkv, d).transpose(1, 2);  // [R, Hkv, T, d]
        var v = F.linear(x, v_proj, v_bias).view(r, t, nkv, d).transpose(1, 2);
        if (q_norm is not null && k_norm is not null)
        {
            // SDAR (Qwen3): per-head RMSNorm on q and k, before RoPE.
            q = RmsNorm.Apply(q, q_norm, _spec.NormEps);
            k = RmsNorm.Apply(k, k_norm, _spec.NormEps);
        }
        q = Rope(q, cos, sin);
        k = Rope(k, cos, sin);

        if (req.WriteStart >= 0) req.Cache!.Write(layerIndex, req.WriteStart, k, v);

        Tensor o;
        if (req.ContextLength == 0) o = SelfOnly(q, k, v, req.SelfMask, g);
        else o = WithContext(q, k, v, req, layerIndex, g);
        o = o.transpose(1, 2).reshape(r, t, (long)nh * d);
        return F.linear(o, o_proj);
    }

    private static Tensor Rope(Tensor x, Tensor cos, Tensor sin)
    {
        // rotate_half(x) = cat(-x[d/2:], x[:d/2])
        long half = x.shape[3] / 2;
        var x1 = x.narrow(3, 0, half);
        var x2 = x.narrow(3, half, half);
        var rotated = cat(new[] { x2.neg(), x1 }, 3);
        return x.mul(cos).add(rotated.mul(sin));
    }

    /// <summary>Rows attend only to their own tokens: fused attention (also the training path).</summary>
    private Tensor SelfOnly(Tensor q, Tensor k, Tensor v, Tensor? mask, int g)
    {
        if (g > 1)
        {
            k = RepeatKv(k, g);
            v = RepeatKv(v, g);
        }
        return F.scaled_dot_product_attention(q, k, v, mask, 0.0, false);
    }

    private static Tensor RepeatKv(Tensor kv, int g)
    {
        long r = kv.shape[0], n = kv.shape[1], t = kv.shape[2], d = kv.shape[3];
        return kv.unsqueeze(2).expand(r, n, g, t, d).reshape(r, n * g, t, d);
    }

    /// <summary>
    /// Rows attend to a shared cached context plus their own tokens. The R rows form Bc groups of
    /// m = R / Bc rows; each group's rows are folded into the query dimension so the context keys
    /// and values (one copy per sequence) are never copied per row. One softmax spans context and
    /// own keys, so the result equals attention over the concatenated keys.
    /// </summary>
    private Tensor WithContext(Tensor q, Tensor k, Tensor v, in ForwardRequest req, int layerIndex, int g)
    {
        var cache = req.Cache!;
        long r = q.shape[0], t = q.shape[2], d = q.shape[3];
        int nkv = _spec.NumKvHeads, c = req.ContextLength;
        long bc = cache.Batch, m = r / bc;
        if (m * bc != r) throw new ArgumentException($"{r} rows do not split into {bc} cached sequences");
        var kc = cache.Keys(layerIndex, c);    // [Bc, Hkv, C, d]
        var vc = cache.Values(layerIndex, c);

        // Context scores: [Bc, Hkv, m*g*T, C].
        var qFold = q.reshape(bc, m, nkv, g * t, d).transpose(1, 2).reshape(bc, nkv, m * g * t, d);
        var sc = matmul(qFold, kc.transpose(2, 3)).mul(_scale).to(float32);
        if (req.ContextMask is not null) sc = sc.masked_fill(req.ContextMask.logical_not(), double.NegativeInfinity);
        // Unfold back to rows: [R, Hkv, g*T, C].
        sc = sc.view(bc, nkv, m, g * t, c).transpose(1, 2).reshape(r, nkv, g * t, c);

        // Own scores: [R, Hkv, g*T, T].
        var qRows = q.reshape(r, nkv, g * t, d);
        var ss = matmul(qRows, k.transpose(2, 3)).mul(_scale).to(float32);
        if (req.SelfMask is not null)
        {
            var mask = req.SelfMask.unsqueeze(2); // [R|1, 1, 1, T, T] broadcast over the g heads of a group
            ss = ss.view(r, nkv, g, t, t).masked_fill(mask.logical_not(), double.NegativeInfinity).view(r, nkv, g * t, t);
        }

        var p = softmax(cat(new[] { sc, ss }, 3), 3).to(q.dtype);
        var pc = p.narrow(3, 0, c);
        var ps = p.narrow(3, c, t);
        var pcFold = pc.reshape(bc, m, nkv, g * t, c).transpose(1, 2).reshape(bc, nkv, m * g * t, c);
        var oc = matmul(pcFold, vc).view(bc, nkv, m, g * t, d).transpose(1, 2).reshape(r, nkv, g * t, d);
        var os = matmul(ps, v);
        return oc.add(os).reshape(r, nkv * g, t, d);
    }
}
