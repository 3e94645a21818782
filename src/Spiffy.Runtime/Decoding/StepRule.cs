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
internal sealed partial class StepRule : IDisposable
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
        // alg_temp's row is at most the canvas (no cache); sized here, as its first draw may come steps into a block.
        if (options.AlgTemp > 0) _algQ = new float[_canvas];
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

    /// <summary>The seed of step n's noise: a mix of (seed, n) only, never of the batch or the drafts.</summary>
    public static ulong NoiseSeed(long seed, long step)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)step * 0xBF58476D1CE4E5B9UL + 0x94D049BB133111EBUL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
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
                count = Math.Max(above, Math.Max(_o.K, ScheduledCount(_blockLength, stepInBlock)));
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
        _stream!.Draw(position, 1, row).Data<float>().CopyTo(_algQ.AsSpan(0, (int)row));
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
}
