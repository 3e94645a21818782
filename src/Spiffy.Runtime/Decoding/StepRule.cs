using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>
/// The one step rule shared by the baseline decoders, Spiffy's acceptance walk, calibration and
/// replay: from a block's logits, choose each position's token (argmax, or argmax under float64
/// Gumbel noise when T &gt; 0), score its confidence, and commit the positions the unmasking rule
/// selects. Noise for step n of a sequence comes from a generator seeded by (seed, n) alone, so the
/// transition from a state is the same whether its distribution came from a plain forward or a
/// verification row: this is what makes Spiffy lossless under sampling as well.
/// </summary>
internal sealed class StepRule : IDisposable
{
    private readonly DecodingOptions _o;
    private readonly int _blockLength;
    private readonly int _stepsPerBlock;
    private readonly int[] _order;
    private readonly float[] _timesteps;
    private readonly Generator _noise = new Generator(0, CPU);
    private readonly MultinomialStream? _stream;   // the authors' categorical draws (Sampler != Gumbel and T > 0, or alg_temp)
    // masked_categorical: before global step g, the vocabulary rows drawn for tokens and the elements drawn for alg_temp's
    // position draws, and step g's block and step in block (the schedule fixes them: docs/decoding.md).
    private readonly List<long> _tokenRowsBefore = new(), _algBefore = new();
    private readonly List<(int Block, int Step)> _drawStep = new();
    private long _vocab;
    private float[] _algQ = Array.Empty<float>();
    private readonly double[] _algRatio;
    private readonly int _region, _canvas;

    private readonly long _maskId;
    private Tensor? _maskIndex;
    private double[] _packed = Array.Empty<double>(); // host side of Score's one transfer, grown once

    /// <param name="options">The decoding configuration.</param>
    /// <param name="maskId">The mask token: never a valid prediction, so it is excluded before choosing (-1 = none).</param>
    /// <param name="region">Canvas positions before the first decoded block (the authors' Dream block start draws over the whole canvas).</param>
    /// <param name="canvas">Canvas length (region + decoded blocks); 0 = region + the generation length.</param>
    public StepRule(DecodingOptions options, long maskId = -1, int region = 0, int canvas = 0)
    {
        _o = options;
        _maskId = maskId;
        _blockLength = options.BlockLength;
        _stepsPerBlock = options.EffectiveSteps / options.NumBlocks;
        _order = new int[options.BlockLength];
        _timesteps = options.Schedule == ScheduleKind.Timesteps ? Timesteps(_stepsPerBlock + 1, options.Eps) : Array.Empty<float>();
        _region = region;
        _canvas = canvas > 0 ? canvas : region + options.GenLength;
        _algRatio = new double[options.BlockLength];
        if ((options.Sampler != SamplerKind.Gumbel && options.Temperature > 0) || options.AlgTemp > 0)
        {
            _stream = new MultinomialStream(options.Seed);
            if (options.Sampler == SamplerKind.MaskedCategorical) MaskedDrawPositions();
        }
    }

    /// <summary>The block-start forward of Fast-dLLM's Dream block decoder (it commits the block's first position only).</summary>
    private bool IsFirstPositionStart(int stepInBlock) => _o.BlockStart == BlockStartRule.FirstPosition && stepInBlock == 0 && _o.Cache != CacheMode.None;

    /// <summary>
    /// Where each global step's draws start in the stream, for Dream's draws: the schedule fixes how many positions are
    /// masked at every step (Validate requires it), so the position follows from the step alone, for the plain decoder
    /// and for any draft row alike. A step draws, in the authors' order, q for its tokens (T &gt; 0: the masked
    /// positions' rows; at a first-position block start the whole canvas) and then, with alg_temp, q for the positions
    /// (one element per position of the row the authors' multinomial sees), only when it commits any.
    /// </summary>
    private void MaskedDrawPositions()
    {
        _tokenRowsBefore.Add(0);
        _algBefore.Add(0);
        for (int blk = 0; blk < _o.NumBlocks; blk++)
        {
            int masks = _blockLength, k = 0;
            while (masks > 0 && k <= _blockLength + _stepsPerBlock)
            {
                bool start = IsFirstPositionStart(k);
                int count = start ? 1 : Math.Clamp(ScheduleCount(masks, k), 0, masks);
                long rows = _o.Temperature > 0 ? (start ? _canvas : masks) : 0;
                long alg = _o.AlgTemp > 0 && !start && count > 0 ? AlgRowLength(blk) : 0;
                _tokenRowsBefore.Add(_tokenRowsBefore[^1] + rows);
                _algBefore.Add(_algBefore[^1] + alg);
                _drawStep.Add((blk, k));
                masks -= count;
                k++;
            }
        }
    }

    /// <summary>The row the authors' alg_temp multinomial draws over: the whole canvas (no cache), the fed part from the block on (prefix), the block
    /// (dual).</summary>
    private long AlgRowLength(int blk) => _o.Cache switch
    {
        CacheMode.Prefix => _canvas - (_region + (long)blk * _blockLength),
        CacheMode.Dual => _blockLength,
        _ => _canvas,
    };

    /// <summary>Where global step g's draws start (in stream elements), and its block and step in block.</summary>
    private (long Position, int Block, int Step) DrawAt(long g)
    {
        int step = (int)Math.Min(g, _drawStep.Count - 1);
        return (_tokenRowsBefore[step] * _vocab + _algBefore[step], _drawStep[step].Block, _drawStep[step].Step);
    }

    public DecodingOptions Options => _o;
    public int StepsPerBlock => _stepsPerBlock;

    /// <summary>Tokens to commit at step <paramref name="stepInBlock"/> of an even split of <paramref name="initialMasks"/> positions (LLaDA's
    /// schedule).</summary>
    public int ScheduledCount(int initialMasks, int stepInBlock)
    {
        int baseCount = initialMasks / _stepsPerBlock, remainder = initialMasks % _stepsPerBlock;
        return baseCount + (stepInBlock < remainder ? 1 : 0);
    }

    /// <summary>Tokens a <see cref="UnmaskingRule.Schedule"/> step commits with <paramref name="masked"/> masked positions (before clamping).</summary>
    private int ScheduleCount(int masked, int stepInBlock)
        => _o.Schedule == ScheduleKind.Timesteps ? TimestepCount(masked, stepInBlock) : ScheduledCount(_blockLength, stepInBlock);

    /// <summary>
    /// Dream's count at step <paramref name="stepInBlock"/> with <paramref name="masked"/> masked positions:
    /// int(n * (1 - s / t)) with t, s consecutive timesteps, in float32 as the authors' tensors compute it;
    /// every remaining position at the block's last step.
    /// </summary>
    public int TimestepCount(int masked, int stepInBlock)
    {
        if (stepInBlock >= _stepsPerBlock - 1) return masked;
        float t = _timesteps[stepInBlock], s = _timesteps[stepInBlock + 1];
        float fraction = 1f - s / t;
        return (int)((float)masked * fraction);
    }

    /// <summary>
    /// torch.linspace(1, eps, count) in float32 as ATen defines it: step = (end - start) / (count - 1);
    /// the first half counts up from start, the second half down from end (each a float32 multiply and add).
    /// tests/reference/reference_sampler.py checks that the schedule's counts agree with torch's own
    /// linspace and with a fused multiply-add variant, so no count depends on which one a device uses.
    /// </summary>
    public static float[] Timesteps(int count, double eps)
    {
        var t = new float[count];
        float start = 1f, end = (float)eps;
        if (count == 1) { t[0] = start; return t; }
        float step = (end - start) / (count - 1);
        int halfway = count / 2;
        for (int i = 0; i < count; i++)
            t[i] = i < halfway ? start + step * i : end - step * (count - i - 1);
        return t;
    }

    /// <summary>
    /// Scores every position of every row on the device and copies the result to the host.
    /// <paramref name="logits"/>: [R, B, V] float32. <paramref name="stepIndex"/>[r]: the sequence's global
    /// step number that row r's state would take (seeds its noise). Fills x0 and confidence [R * B].
    /// When <paramref name="topJ"/> &gt; 0 also fills, for drafting, the J highest probabilities and
    /// their tokens per position ([R * B * J] each, descending). <paramref name="rowTokens"/> [R * B]: the rows' block
    /// tokens (the categorical samplers draw over their masked positions; needed when <see cref="DecodingOptions.Sampler"/> is not Gumbel).
    /// </summary>
    public void Score(Tensor logits, ReadOnlySpan<long> stepIndex, Span<long> x0, Span<double> confidence,
        Span<double> topProbs = default, Span<long> topTokens = default, int topJ = 0, ReadOnlySpan<long> rowTokens = default)
    {
        using var scope = NewDisposeScope();
        long rows = logits.shape[0], b = logits.shape[1];
        _vocab = logits.shape[2];
        if (_maskId >= 0) logits = logits.index_fill(-1, MaskIndex(logits.device), float.NegativeInfinity);
        var logits64 = logits.to(float64);
        bool categorical = _o.Sampler != SamplerKind.Gumbel;
        // Dream / SDAR: the probabilities of the temperature-scaled, filtered logits (their confidence too); LLaDA: softmax(logits).
        var p = categorical ? Filter(_o.Temperature > 0 ? logits64.div(_o.Temperature) : logits64).softmax(-1) : logits64.softmax(-1);
        Tensor choice;
        Tensor? randomConf = null;
        // Uniforms per position from the generator of (seed, step): random confidences, or the origin rule's coin flips.
        bool uniforms = _o.Confidence == ConfidenceKind.Random || _o.Unmasking == UnmaskingRule.Origin;
        bool needNoise = _o.Temperature > 0 || uniforms;
        if (categorical && (_o.Temperature > 0 || !uniforms))
        {
            choice = _o.Temperature > 0 ? CategoricalChoice(p, stepIndex, rowTokens) : p.argmax(-1);
            if (uniforms) randomConf = RandomConfidence(rows, b, stepIndex, p.device);
        }
        else if (!needNoise) choice = logits.argmax(-1);
        else
        {
            var picks = new Tensor[rows];
            var rnd = uniforms ? new Tensor[rows] : null;
            for (int r = 0; r < rows; r++)
            {
                _noise.manual_seed(unchecked((long)NoiseSeed(_o.Seed, stepIndex[r])));
                var row = logits64[r];
                if (_o.Temperature > 0)
                {
                    // LLaDA: argmax of exp(logits) / (-log U)^T, in float64.
                    // Drawn on the CPU generator on every device, so CUDA and CPU decide alike.
                    var u = rand(row.shape, float64, generator: _noise).to(row.device).clamp_min(1e-300);
                    picks[r] = row.exp().div(u.log().neg().pow(_o.Temperature)).argmax(-1);
                }
                else picks[r] = row.argmax(-1);
                if (rnd is not null) rnd[r] = rand(new long[] { b }, float64, generator: _noise).to(row.device);
            }
            choice = stack(picks);
            if (rnd is not null) randomConf = stack(rnd);
        }
        Tensor conf = uniforms ? randomConf! : _o.Confidence switch
        {
            ConfidenceKind.Probability => p.gather(-1, choice.unsqueeze(-1)).squeeze(-1),
            ConfidenceKind.Random => randomConf!,
            ConfidenceKind.Margin => Margin(p),
            _ => p.mul(p.clamp_min(1e-300).log()).sum(-1),
        };
        // One transfer per call: [x0 | confidence | top-J probabilities | top-J tokens] per position,
        // packed as float64 on the device (token ids are exact in float64) and copied to the host once.
        var parts = new List<Tensor>(4) { choice.to(float64).unsqueeze(-1), conf.to(float64).unsqueeze(-1) };
        if (topJ > 0)
        {
            var (vals, idx) = p.topk(topJ, -1, largest: true, sorted: true);
            parts.Add(vals);
            parts.Add(idx.to(float64));
        }
        int width = 2 + 2 * topJ, n = (int)(rows * b);
        if (_packed.Length < n * width) _packed = new double[n * width];
        var packed = _packed.AsSpan(0, n * width);
        HostCopy.To(cat(parts, -1), packed);
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

    /// <summary>LLaDA-style random confidences: a uniform per position from the generator of (seed, step).</summary>
    private Tensor RandomConfidence(long rows, long b, ReadOnlySpan<long> stepIndex, Device device)
    {
        var rnd = new Tensor[rows];
        for (int r = 0; r < rows; r++)
        {
            _noise.manual_seed(unchecked((long)NoiseSeed(_o.Seed, stepIndex[r])));
            rnd[r] = rand(new long[] { b }, float64, generator: _noise).to(device);
        }
        return stack(rnd);
    }

    /// <summary>
    /// Top-k / top-p on (scaled) logits, in the order of the family's authors: Dream's sample_tokens filters
    /// top-p then top-k, SDAR's sampler top-k then top-p. Top-k keeps every token tied with the k-th; top-p keeps
    /// the most likely tokens up to and including the first whose cumulative probability exceeds p.
    /// </summary>
    private Tensor Filter(Tensor logits)
    {
        if (_o.Sampler == SamplerKind.MaskedCategorical) return TopK(TopP(logits));
        return TopP(TopK(logits));
    }

    private Tensor TopK(Tensor logits)
    {
        if (_o.TopK <= 0) return logits;
        var kth = logits.topk((int)Math.Min(_o.TopK, logits.shape[^1]), -1).values.narrow(-1, _o.TopK > logits.shape[^1]
            ? logits.shape[^1] - 1 : _o.TopK - 1, 1);
        return logits.masked_fill(logits.lt(kth), double.NegativeInfinity);
    }

    private Tensor TopP(Tensor logits)
    {
        if (_o.TopP >= 1) return logits;
        var (sorted, order) = logits.sort(-1, descending: true);
        var above = sorted.softmax(-1).cumsum(-1).gt(_o.TopP);
        // Shift right by one: the token that crosses p is kept, and so is the most likely one.
        var remove = zeros_like(above).index_copy_(-1, arange(1, above.shape[^1], device: above.device), above.narrow(-1, 0, above.shape[^1] - 1));
        var mask = zeros_like(remove).scatter(-1, order, remove);
        return logits.masked_fill(mask, double.NegativeInfinity);
    }

    /// <summary>
    /// The authors' categorical draw: for each row, argmax over the vocabulary of p / q with q the stream's Exp(1)
    /// draws for the positions they sample, in position order (Dream: the masked positions, or at a first-position
    /// block start the whole canvas of which the block's first position is kept; SDAR: every block position).
    /// Positions not sampled take their argmax (never committed).
    /// </summary>
    private Tensor CategoricalChoice(Tensor p, ReadOnlySpan<long> stepIndex, ReadOnlySpan<long> rowTokens)
    {
        long rows = p.shape[0], b = p.shape[1], vocab = p.shape[2];
        if (rowTokens.Length < rows * b) throw new ArgumentException("the categorical samplers need the rows' tokens", nameof(rowTokens));
        var norm = p.div(p.sum(-1, keepdim: true)); // Categorical(probs) normalizes; multinomial then divides by q
        var picks = new Tensor[rows];
        var sampled = new List<long>(checked((int)b));
        for (int r = 0; r < rows; r++)
        {
            var row = norm[r];
            var pick = row.argmax(-1);
            long g = stepIndex[r], position;
            sampled.Clear();
            if (_o.Sampler == SamplerKind.BlockMultinomial)
            {
                for (long i = 0; i < b; i++) sampled.Add(i);
                position = g * b * vocab;
            }
            else
            {
                var at = DrawAt(g);
                position = at.Position;
                if (IsFirstPositionStart(at.Step))
                {
                    sampled.Add(0);
                    position += (_region + at.Block * (long)_blockLength) * vocab; // the canvas rows before the block's first position
                }
                else
                    for (int i = 0; i < b; i++) if (rowTokens[(int)(r * b) + i] == _maskId) sampled.Add(i);
            }
            if (sampled.Count > 0)
            {
                var q = _stream!.Draw(position, sampled.Count, vocab).to(p.device).to(float64);
                var idx = tensor(sampled.ToArray(), device: p.device);
                pick = pick.index_copy(0, idx, row.index_select(0, idx).div(q).argmax(-1));
            }
            picks[r] = pick;
        }
        return stack(picks);
    }

    /// <summary>The mask id as an index tensor on <paramref name="device"/>, made once (an upload per step would wait for the forward).</summary>
    private Tensor MaskIndex(Device device)
    {
        if (_maskIndex is null || _maskIndex.device != device)
        {
            _maskIndex?.Dispose();
            _maskIndex = tensor(new[] { _maskId }, device: device).DetachFromDisposeScope();
        }
        return _maskIndex;
    }

    /// <summary>The seed of step n's noise: a mix of (seed, n) only, never of the batch or the drafts.</summary>
    public static ulong NoiseSeed(long seed, long step)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)step * 0xBF58476D1CE4E5B9UL + 0x94D049BB133111EBUL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static Tensor Margin(Tensor p)
    {
        var (top, _) = p.topk(2, -1, largest: true, sorted: true);
        return top.select(-1, 0).sub(top.select(-1, 1));
    }

    /// <summary>
    /// Chooses the positions (block offsets) to commit for one row. <paramref name="masked"/> marks the
    /// block's still-masked positions; ties break toward the lower position. Returns how many were
    /// written to <paramref name="chosen"/>, in commit order: at least one while any mask remains,
    /// except for a <see cref="ScheduleKind.Timesteps"/> step, which may commit none (Dream's early steps).
    /// <paramref name="initialMasks"/> is kept for callers; the even schedule splits the block length
    /// (LLaDA's blocks start fully masked; SDAR splits the block length even when the prompt's tail fills part of it).
    /// </summary>
    /// <paramref name="globalStep"/>: the sequence's step number (alg_temp draws its positions from the stream there).
    public int Select(ReadOnlySpan<bool> masked, ReadOnlySpan<double> confidence, int initialMasks, int stepInBlock, Span<int> chosen, long globalStep = -1)
    {
        _ = initialMasks;
        int n = 0;
        for (int i = 0; i < _blockLength; i++) if (masked[i]) _order[n++] = i;
        if (n == 0) return 0;
        if (IsFirstPositionStart(stepInBlock))
        {
            // Fast-dLLM's Dream block decoder: the block-start forward writes the block's first position only.
            if (!masked[0]) return 0;
            chosen[0] = 0;
            return 1;
        }
        if (_o.Unmasking == UnmaskingRule.Origin)
        {
            // Dream's origin: torch.rand(n) < 1 - s/t (float32), every remaining position at the last step; confidence holds the uniforms.
            float pTransfer = stepInBlock >= _stepsPerBlock - 1 ? 1f : 1f - _timesteps[stepInBlock + 1] / _timesteps[stepInBlock];
            int picked = 0;
            for (int j = 0; j < n; j++) if ((float)confidence[_order[j]] < pTransfer) chosen[picked++] = _order[j];
            return picked;
        }
        // Insertion sort by (confidence desc, position asc): n <= block length, and it is allocation-free and stable.
        for (int i = 1; i < n; i++)
        {
            int v = _order[i], j = i - 1;
            double cv = confidence[v];
            while (j >= 0 && confidence[_order[j]] < cv) { _order[j + 1] = _order[j]; j--; }
            _order[j + 1] = v;
        }
        int count, least = 1;
        switch (_o.Unmasking)
        {
            case UnmaskingRule.Schedule:
                // Even: more than remain (a block the prompt's tail fills in part): only masked positions are written.
                // Timesteps: a step may commit none.
                count = ScheduleCount(n, stepInBlock);
                if (_o.Schedule == ScheduleKind.Timesteps) least = 0;
                break;
            case UnmaskingRule.Threshold:
                count = 1;
                while (count < n && confidence[_order[count]] >= _o.Threshold) count++;
                break;
            case UnmaskingRule.Factor:
                count = 1;
                while (count < n && confidence[_order[count]] >= 1.0 - _o.Factor / (count + 2)) count++;
                break;
            default: // DynamicTopK (SDAR): the candidates strictly above tau, or at least the step's even share of the block (and k)
                int above = 0;
                while (above < n && confidence[_order[above]] > _o.Threshold) above++;
                count = Math.Max(above, Math.Max(_o.MinTokensPerStep, ScheduledCount(_blockLength, stepInBlock)));
                break;
        }
        if (_o.OverfullTopK && count > n && (_o.Unmasking == UnmaskingRule.Schedule || _o.Unmasking == UnmaskingRule.DynamicTopK))
            return OverfullTopK(masked, confidence, Math.Min(count, _blockLength), chosen);
        count = Math.Clamp(count, least, n);
        if (_o.AlgTemp > 0 && _o.Unmasking == UnmaskingRule.Schedule && count > 0)
        {
            AlgTempPositions(n, count, confidence, globalStep, chosen);
            return count;
        }
        _order.AsSpan(0, count).CopyTo(chosen);
        return count;
    }

    /// <summary>
    /// SDAR's <c>torch.topk(confidence, k)</c> over the whole block with -inf where decided, in float32 on the CPU as the
    /// authors' tensor is: with k above the masks left it also returns decided positions, in libtorch's order for ties,
    /// which the step then rewrites with its prediction.
    /// </summary>
    private static int OverfullTopK(ReadOnlySpan<bool> masked, ReadOnlySpan<double> confidence, int count, Span<int> chosen)
    {
        var values = new float[masked.Length];
        for (int i = 0; i < values.Length; i++) values[i] = masked[i] ? (float)confidence[i] : float.NegativeInfinity;
        using var scope = NewDisposeScope();
        var (_, idx) = tensor(values).topk(count);
        var picked = idx.data<long>().ToArray();
        for (int c = 0; c < count; c++) chosen[c] = (int)picked[c];
        return count;
    }

    /// <summary>
    /// Dream's alg_temp: <c>torch.multinomial(softmax(full_confidence / alg_temp), count)</c> without replacement, which
    /// libtorch computes as the top <paramref name="count"/> of w / q with q the stream's Exp(1) draws over the row it
    /// sees (non-masked positions have w = 0). <c>_order</c> holds the n masked positions.
    /// </summary>
    private void AlgTempPositions(int n, int count, ReadOnlySpan<double> confidence, long globalStep, Span<int> chosen)
    {
        if (globalStep < 0) throw new ArgumentException("alg_temp needs the sequence's step number", nameof(globalStep));
        var at = DrawAt(globalStep);
        long row = AlgRowLength(at.Block);
        // After the step's token draws (none at T = 0).
        long position = _tokenRowsBefore[(int)Math.Min(globalStep + 1, _tokenRowsBefore.Count - 1)] * _vocab
            + _algBefore[(int)Math.Min(globalStep, _algBefore.Count - 1)];
        if (_algQ.Length < row) _algQ = new float[row];
        using (var scope = NewDisposeScope()) _stream!.Draw(position, 1, row).data<float>().CopyTo(_algQ.AsSpan(0, (int)row));
        // Where block offset i sits in that row (no cache: the canvas; prefix / dual: from the block's first position).
        long offset = _o.Cache == CacheMode.None ? _region + (long)at.Block * _blockLength : 0;
        double max = double.NegativeInfinity;
        for (int j = 0; j < n; j++) max = Math.Max(max, confidence[_order[j]] / _o.AlgTemp);
        double sum = 0;
        for (int j = 0; j < n; j++) sum += Math.Exp(confidence[_order[j]] / _o.AlgTemp - max);
        for (int j = 0; j < n; j++)
        {
            int i = _order[j];
            _algRatio[i] = Math.Exp(confidence[i] / _o.AlgTemp - max) / sum / _algQ[offset + i];
        }
        // The top `count` ratios (ties toward the lower position): a stable insertion sort of the masked positions.
        for (int a = 1; a < n; a++)
        {
            int v = _order[a], j = a - 1;
            while (j >= 0 && (_algRatio[_order[j]] < _algRatio[v] || (_algRatio[_order[j]] == _algRatio[v] && _order[j] > v)))
            {
                _order[j + 1] = _order[j]; j--;
            }
            _order[j + 1] = v;
        }
        _order.AsSpan(0, count).CopyTo(chosen);
    }

    /// <summary>Frees the cached mask index tensor (the rule stays usable: it is made again on demand).</summary>
    public void Dispose()
    {
        _maskIndex?.Dispose();
        _maskIndex = null;
        _stream?.Dispose();
    }
}
