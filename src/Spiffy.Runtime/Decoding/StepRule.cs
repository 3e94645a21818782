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

    private readonly long _maskId;
    private Tensor? _maskIndex;
    private double[] _packed = Array.Empty<double>(); // host side of Score's one transfer, grown once

    /// <param name="options">The decoding configuration.</param>
    /// <param name="maskId">The mask token: never a valid prediction, so it is excluded before choosing (-1 = none).</param>
    public StepRule(DecodingOptions options, long maskId = -1)
    {
        _o = options;
        _maskId = maskId;
        _blockLength = options.BlockLength;
        _stepsPerBlock = options.EffectiveSteps / options.NumBlocks;
        _order = new int[options.BlockLength];
        _timesteps = options.Schedule == ScheduleKind.Timesteps ? Timesteps(_stepsPerBlock + 1, options.Eps) : Array.Empty<float>();
    }

    public DecodingOptions Options => _o;
    public int StepsPerBlock => _stepsPerBlock;

    /// <summary>Tokens to commit at step <paramref name="stepInBlock"/> of an even split of <paramref name="initialMasks"/> positions (LLaDA's schedule).</summary>
    public int ScheduledCount(int initialMasks, int stepInBlock)
    {
        int baseCount = initialMasks / _stepsPerBlock, remainder = initialMasks % _stepsPerBlock;
        return baseCount + (stepInBlock < remainder ? 1 : 0);
    }

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
    /// their tokens per position ([R * B * J] each, descending).
    /// </summary>
    public void Score(Tensor logits, ReadOnlySpan<long> stepIndex, Span<long> x0, Span<double> confidence,
        Span<double> topProbs = default, Span<long> topTokens = default, int topJ = 0)
    {
        using var scope = NewDisposeScope();
        long rows = logits.shape[0], b = logits.shape[1];
        if (_maskId >= 0) logits = logits.index_fill(-1, MaskIndex(logits.device), float.NegativeInfinity);
        var logits64 = logits.to(float64);
        var p = logits64.softmax(-1);
        Tensor choice;
        Tensor? randomConf = null;
        bool needNoise = _o.Temperature > 0 || _o.Confidence == ConfidenceKind.Random;
        if (!needNoise) choice = logits.argmax(-1);
        else
        {
            var picks = new Tensor[rows];
            var rnd = _o.Confidence == ConfidenceKind.Random ? new Tensor[rows] : null;
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
        Tensor conf = _o.Confidence switch
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
    public int Select(ReadOnlySpan<bool> masked, ReadOnlySpan<double> confidence, int initialMasks, int stepInBlock, Span<int> chosen)
    {
        _ = initialMasks;
        int n = 0;
        for (int i = 0; i < _blockLength; i++) if (masked[i]) _order[n++] = i;
        if (n == 0) return 0;
        if (_o.BlockStart == BlockStartRule.FirstPosition && stepInBlock == 0 && _o.Cache != CacheMode.None)
        {
            // Fast-dLLM's Dream block decoder: the block-start forward writes the block's first position only.
            if (!masked[0]) return 0;
            chosen[0] = 0;
            return 1;
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
            case UnmaskingRule.Schedule when _o.Schedule == ScheduleKind.Timesteps:
                count = TimestepCount(n, stepInBlock);
                least = 0;
                break;
            case UnmaskingRule.Schedule:
                // More than remain (a block the prompt's tail fills in part): only masked positions are written.
                count = ScheduledCount(_blockLength, stepInBlock);
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
        count = Math.Clamp(count, least, n);
        _order.AsSpan(0, count).CopyTo(chosen);
        return count;
    }

    /// <summary>Frees the cached mask index tensor (the rule stays usable: it is made again on demand).</summary>
    public void Dispose()
    {
        _maskIndex?.Dispose();
        _maskIndex = null;
    }
}
