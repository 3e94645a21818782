using Spiffy.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>
/// The device half of the step rule: from a forward's logits to each position's token, confidence and top-J, in one
/// transfer. It runs on native handles (<see cref="NativeTensor"/>) with every buffer it needs made once per rule,
/// so a step allocates nothing managed; the operations and their arguments are TorchSharp's, so results are unchanged.
/// </summary>
internal sealed partial class StepRule
{
    private static readonly NativeScalar Tiny = NativeScalar.Of(1e-300); // clamp before log: p = 0 contributes 0, not NaN
    private NativeScalar? _temperatureScalar, _topPScalar;
    private Tensor? _maskIndex;           // [1] int64: the mask id on the logits' device
    private (DeviceType Type, int Index) _maskIndexDevice;
    private Tensor? _shiftIndex;          // top-p: arange(1, V) on the logits' device
    private (long Length, DeviceType Type, int Index) _shiftIndexKey;
    private Tensor? _sampledHost;         // [B] int64 on the CPU: a row's sampled positions (categorical draws)
    private Tensor? _overfullHost;        // [B] float32 on the CPU: SDAR's overfull top-k scores
    private NativeTensor[] _picks = [], _uniforms = []; // per-row results of a step, grown to the most rows once
    private long[] _sampled = [];

    private NativeScalar TemperatureScalar => _temperatureScalar ??= NativeScalar.Of(_o.Temperature);
    private NativeScalar TopPScalar => _topPScalar ??= NativeScalar.Of(_o.TopP);

    /// <summary>
    /// Scores every position of every row on the device and copies the result to the host.
    /// <paramref name="logits"/>: [R, B, V] float32. <paramref name="stepIndex"/>[r]: the sequence's global
    /// step number that row r's state would take (seeds its noise). Fills x0 and confidence [R * B].
    /// When <paramref name="topJ"/> &gt; 0 also fills, for drafting, the J highest probabilities and
    /// their tokens per position ([R * B * J] each, descending). <paramref name="rowTokens"/> [R * B]: the rows' block
    /// tokens (the categorical samplers draw over their masked positions; needed when <see cref="DecodingOptions.Sampler"/> is not Gumbel).
    /// </summary>
    public void Score(NativeTensor logits, ReadOnlySpan<long> stepIndex, Span<long> x0, Span<double> confidence,
        Span<double> topProbs = default, Span<long> topTokens = default, int topJ = 0, ReadOnlySpan<long> rowTokens = default)
    {
        using var scope = TensorArena.Open();
        long rows = logits.Size(0), b = logits.Size(1);
        _vocab = logits.Size(2);
        if (_maskId >= 0) logits = logits.IndexFill(-1, MaskIndex(logits), NativeScalar.NegativeInfinityFloat);
        var logits64 = logits.To(ScalarType.Float64);
        bool categorical = _o.Sampler != SamplerKind.Gumbel;
        // Dream / SDAR: the probabilities of the temperature-scaled, filtered logits (their confidence too); LLaDA: softmax(logits).
        var p = categorical ? Filter(_o.Temperature > 0 ? logits64.Div(TemperatureScalar) : logits64).Softmax(-1) : logits64.Softmax(-1);
        NativeTensor choice;
        NativeTensor randomConf = default;
        // Uniforms per position from the generator of (seed, step): random confidences, or the origin rule's coin flips.
        bool uniforms = _o.Confidence == ConfidenceKind.Random || _o.Unmasking == UnmaskingRule.Origin;
        bool needNoise = _o.Temperature > 0 || uniforms;
        EnsureRows(rows);
        if (categorical && (_o.Temperature > 0 || !uniforms))
        {
            choice = _o.Temperature > 0 ? CategoricalChoice(p, stepIndex, rowTokens) : p.ArgMax(-1);
            if (uniforms) randomConf = RandomConfidence(rows, b, stepIndex, p);
        }
        else if (!needNoise) choice = logits.ArgMax(-1);
        else
        {
            for (int r = 0; r < rows; r++)
            {
                Seed(stepIndex[r]);
                var row = logits64.Select(0, r);
                if (_o.Temperature > 0)
                {
                    // LLaDA: argmax of exp(logits) / (-log U)^T, in float64.
                    // Drawn on the CPU generator on every device, so CUDA and CPU decide alike.
                    var u = OnDeviceOf(NativeTensor.Rand(_noise.Handle, [row.Size(0), row.Size(1)], ScalarType.Float64), row).ClampMin(Tiny);
                    _picks[r] = row.Exp().Div(u.Log().Neg().Pow(TemperatureScalar)).ArgMax(-1);
                }
                else _picks[r] = row.ArgMax(-1);
                if (uniforms) _uniforms[r] = OnDeviceOf(NativeTensor.Rand(_noise.Handle, [b], ScalarType.Float64), row);
            }
            choice = NativeTensor.Stack(_picks.AsSpan(0, (int)rows), 0);
            if (uniforms) randomConf = NativeTensor.Stack(_uniforms.AsSpan(0, (int)rows), 0);
        }
        NativeTensor conf = uniforms ? randomConf : _o.Confidence switch
        {
            ConfidenceKind.Probability => p.Gather(-1, choice.Unsqueeze(-1)).Squeeze(-1),
            ConfidenceKind.Random => randomConf,
            ConfidenceKind.Margin => Margin(p),
            _ => p.Mul(p.ClampMin(Tiny).Log()).Sum(-1),
        };
        // One transfer per call: [x0 | confidence | top-J probabilities | top-J tokens] per position,
        // packed as float64 on the device (token ids are exact in float64) and copied to the host once.
        var x0Part = choice.To(ScalarType.Float64).Unsqueeze(-1);
        var confPart = conf.To(ScalarType.Float64).Unsqueeze(-1);
        NativeTensor packedT;
        if (topJ > 0)
        {
            var (vals, idx) = p.TopK(topJ, -1, largest: true, sorted: true);
            packedT = NativeTensor.Cat([x0Part, confPart, vals, idx.To(ScalarType.Float64)], -1);
        }
        else packedT = NativeTensor.Cat([x0Part, confPart], -1);
        int width = 2 + 2 * topJ, n = (int)(rows * b);
        if (_packed.Length < n * width) _packed = new double[n * width];
        var packed = _packed.AsSpan(0, n * width);
        HostCopy.To(packedT, packed);
        for (int i = 0; i < n; i++)
        {
            var at = packed.Slice(i * width, width);
            x0[i] = (long)at[0];
            confidence[i] = at[1];
            for (int j = 0; j < topJ; j++)
            {
                topProbs[i * topJ + j] = at[2 + j];
                topTokens[i * topJ + j] = (long)at[2 + topJ + j];
            }
        }
    }

    /// <summary>
    /// Sizes the per-step buffers for up to <paramref name="rows"/> rows of a block with <paramref name="topJ"/> ranks,
    /// so that steps with more rows than the first (Spiffy's drafts) do not grow them mid-generation.
    /// </summary>
    public void Reserve(int rows, int topJ)
    {
        EnsureRows(rows);
        int n = rows * _blockLength * (2 + 2 * topJ);
        if (_packed.Length < n) _packed = new double[n];
    }

    private void EnsureRows(long rows)
    {
        if (_picks.Length >= rows) return;
        _picks = new NativeTensor[rows];
        _uniforms = new NativeTensor[rows];
    }

    /// <summary>Seeds the (seed, step) generator: <c>Generator.manual_seed</c> without its managed return.</summary>
    private void Seed(long step)
    {
        LibTorch.THSGenerator_gen_manual_seed(_noise.Handle, unchecked((long)NoiseSeed(_o.Seed, step)));
        LibTorch.Check();
    }

    /// <summary>A CPU draw moved to <paramref name="like"/>'s device (nothing to do on the CPU).</summary>
    private static NativeTensor OnDeviceOf(NativeTensor t, NativeTensor like)
        => like.DeviceType == DeviceType.CPU ? t : t.ToDeviceOf(like);

    /// <summary>LLaDA-style random confidences: a uniform per position from the generator of (seed, step).</summary>
    private NativeTensor RandomConfidence(long rows, long b, ReadOnlySpan<long> stepIndex, NativeTensor like)
    {
        for (int r = 0; r < rows; r++)
        {
            Seed(stepIndex[r]);
            _uniforms[r] = OnDeviceOf(NativeTensor.Rand(_noise.Handle, [b], ScalarType.Float64), like);
        }
        return NativeTensor.Stack(_uniforms.AsSpan(0, (int)rows), 0);
    }

    /// <summary>
    /// Top-k / top-p on (scaled) logits, in the order of the family's authors: Dream's sample_tokens filters
    /// top-p then top-k, SDAR's sampler top-k then top-p. Top-k keeps every token tied with the k-th; top-p keeps
    /// the most likely tokens up to and including the first whose cumulative probability exceeds p.
    /// </summary>
    private NativeTensor Filter(NativeTensor logits)
    {
        if (_o.Sampler == SamplerKind.MaskedCategorical) return TopK(TopP(logits));
        return TopP(TopK(logits));
    }

    private NativeTensor TopK(NativeTensor logits)
    {
        if (_o.TopK <= 0) return logits;
        long v = logits.Size(-1);
        var kth = logits.TopK((int)Math.Min(_o.TopK, v), -1).Values.Narrow(-1, _o.TopK > v ? v - 1 : _o.TopK - 1, 1);
        return logits.MaskedFill(logits.Lt(kth), NativeScalar.NegativeInfinity);
    }

    private NativeTensor TopP(NativeTensor logits)
    {
        if (_o.TopP >= 1) return logits;
        var (sorted, order) = logits.Sort(-1, descending: true);
        var above = sorted.Softmax(-1).CumSum(-1).Gt(TopPScalar);
        long v = above.Size(-1);
        // Shift right by one: the token that crosses p is kept, and so is the most likely one.
        var remove = above.ZerosLike().IndexCopy_(-1, ShiftIndex(v, above), above.Narrow(-1, 0, v - 1));
        var mask = remove.ZerosLike().Scatter(-1, order, remove);
        return logits.MaskedFill(mask, NativeScalar.NegativeInfinity);
    }

    /// <summary>arange(1, length) on <paramref name="like"/>'s device, made once per vocabulary and device.</summary>
    private NativeTensor ShiftIndex(long length, NativeTensor like)
    {
        var key = (length, like.DeviceType, like.DeviceIndex);
        if (_shiftIndex is null || _shiftIndexKey != key)
        {
            _shiftIndex?.Dispose();
            _shiftIndex = arange(1, length, device: new Device(like.DeviceType, like.DeviceIndex)).DetachFromDisposeScope();
            _shiftIndexKey = key;
        }
        return NativeTensor.Of(_shiftIndex);
    }

    /// <summary>
    /// The authors' categorical draw: for each row, argmax over the vocabulary of p / q with q the stream's Exp(1)
    /// draws for the positions they sample, in position order (Dream: the masked positions, or at a first-position
    /// block start the whole canvas of which the block's first position is kept; SDAR: every block position).
    /// Positions not sampled take their argmax (never committed).
    /// </summary>
    private NativeTensor CategoricalChoice(NativeTensor p, ReadOnlySpan<long> stepIndex, ReadOnlySpan<long> rowTokens)
    {
        long rows = p.Size(0), b = p.Size(1), vocab = p.Size(2);
        if (rowTokens.Length < rows * b) throw new ArgumentException("the categorical samplers need the rows' tokens", nameof(rowTokens));
        var norm = p.Div(p.Sum(-1, keepdim: true)); // Categorical(probs) normalizes; multinomial then divides by q
        if (_sampled.Length < b)
        {
            _sampled = new long[b];
            _sampledHost?.Dispose();
            _sampledHost = zeros(b, ScalarType.Int64).DetachFromDisposeScope();
        }
        for (int r = 0; r < rows; r++)
        {
            var row = norm.Select(0, r);
            var pick = row.ArgMax(-1);
            long g = stepIndex[r], position;
            int count = 0;
            if (_o.Sampler == SamplerKind.BlockMultinomial)
            {
                for (long i = 0; i < b; i++) _sampled[count++] = i;
                position = g * b * vocab;
            }
            else
            {
                var at = DrawAt(g);
                position = at.Position;
                if (IsFirstPositionStart(at.Step))
                {
                    _sampled[count++] = 0;
                    position += (_region + at.Block * (long)_blockLength) * vocab; // the canvas rows before the block's first position
                }
                else
                    for (int i = 0; i < b; i++) if (rowTokens[(int)(r * b) + i] == _maskId) _sampled[count++] = i;
            }
            if (count > 0)
            {
                var q = OnDeviceOf(_stream!.Draw(position, count, vocab), p).To(ScalarType.Float64);
                var host = NativeTensor.Of(_sampledHost!);
                _sampled.AsSpan(0, count).CopyTo(host.Data<long>());
                var idx = OnDeviceOf(host.Narrow(0, 0, count), p);
                pick = pick.IndexCopy(0, idx, row.IndexSelect(0, idx).Div(q).ArgMax(-1));
            }
            _picks[r] = pick;
        }
        return NativeTensor.Stack(_picks.AsSpan(0, (int)rows), 0);
    }

    /// <summary>The mask id as an index tensor on the logits' device, made once (an upload per step would wait for the forward).</summary>
    private NativeTensor MaskIndex(NativeTensor like)
    {
        var device = (like.DeviceType, like.DeviceIndex);
        if (_maskIndex is null || _maskIndexDevice != device)
        {
            _maskIndex?.Dispose();
            _maskIndex = tensor(new[] { _maskId }, device: new Device(device.DeviceType, device.DeviceIndex)).DetachFromDisposeScope();
            _maskIndexDevice = device;
        }
        return NativeTensor.Of(_maskIndex);
    }

    private static NativeTensor Margin(NativeTensor p)
    {
        var (top, _) = p.TopK(2, -1, largest: true, sorted: true);
        return top.Select(-1, 0).Sub(top.Select(-1, 1));
    }

    /// <summary>
    /// SDAR's <c>torch.topk(confidence, k)</c> over the whole block with -inf where decided, in float32 on the CPU as the
    /// authors' tensor is: with k above the masks left it also returns decided positions, in libtorch's order for ties,
    /// which the step then rewrites with its prediction.
    /// </summary>
    private int OverfullTopK(ReadOnlySpan<bool> masked, ReadOnlySpan<double> confidence, int count, Span<int> chosen)
    {
        _overfullHost ??= zeros(masked.Length, ScalarType.Float32).DetachFromDisposeScope();
        using var scope = TensorArena.Open();
        var host = NativeTensor.Of(_overfullHost);
        var values = host.Data<float>();
        for (int i = 0; i < values.Length; i++) values[i] = masked[i] ? (float)confidence[i] : float.NegativeInfinity;
        var (_, idx) = host.TopK(count);
        var picked = idx.Data<long>();
        for (int c = 0; c < count; c++) chosen[c] = (int)picked[c];
        return count;
    }

    /// <summary>Frees the rule's device buffers (the rule stays usable: they are made again on demand).</summary>
    public void Dispose()
    {
        _maskIndex?.Dispose();
        _maskIndex = null;
        _shiftIndex?.Dispose();
        _shiftIndex = null;
        _sampledHost?.Dispose();
        _sampledHost = null;
        _sampled = [];
        _overfullHost?.Dispose();
        _overfullHost = null;
        _stream?.Dispose();
    }
}
