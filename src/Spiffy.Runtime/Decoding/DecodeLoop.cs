using Spiffy.Modeling;
using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>
/// The state machine of one <c>DiffusionDecoder.Generate</c>
/// call. Host buffers are sized once; a step allocates no arrays.
/// </summary>
internal sealed class DecodeLoop
{
    private readonly DiffusionTransformer _model;
    private readonly DecodingOptions _o;
    private readonly IStepSpeculator? _spec;
    private readonly IDecodeObserver? _observer;
    private readonly long[] _before;       // [B] state before a step (for the observer)
    private int _currentBlock;
    private readonly BlockFinished? _onBlock;
    private readonly CancellationToken _cancel;
    private readonly StepRule _rule;
    private readonly int _batch, _b, _region, _mask, _eos, _topJ, _maxRows;
    private readonly int _genLength;       // generated positions per sequence (SDAR: its canvas rounded up to whole blocks)
    private readonly int _blocks;          // decoded blocks
    private readonly int _tail;            // SDAR: prompt tokens at the head of the first decoded block
    private readonly long[] _tailTokens;
    private readonly long[] _state;        // [Bt x B] block states, mask id where masked
    private readonly long[] _rows;         // [maxRows x B] rows fed to a step forward
    private readonly long[] _x0;           // [maxRows x B]
    private readonly double[] _conf;       // [maxRows x B]
    private readonly double[] _topP;       // [maxRows x B x J]
    private readonly long[] _topTok;       // [maxRows x B x J]
    private readonly long[] _stepIndex;    // [maxRows]
    private readonly bool[] _masked;       // [B]
    private readonly int[] _chosen;        // [B]
    private readonly int[] _initialMasks, _stepInBlock, _globalStep;
    private readonly bool[] _finished;     // early-stopped sequences
    private readonly long[] _generated;    // [Bt x G]
    private readonly double[] _pTopP;      // drafting distribution P of the current state: [B x J]
    private readonly long[] _pTopTok;      // [B x J]
    private bool _pValid;
    private int _currentStart;
    private readonly ForwardRunner _runner;

    public DecodingStatistics[] Stats { get; }

    /// <param name="region">Canvas positions before the first decoded block: the (left-padded) prompt, or for SDAR
    /// the prompt's whole blocks only (one prompt; its tail is decoded with the first masks).</param>
    /// <param name="length">Canvas length: region + the decoded blocks.</param>
    public DecodeLoop(DiffusionTransformer model, DecodingOptions options, IReadOnlyList<long[]> prompts, int region, int length,
        IStepSpeculator? speculator, BlockFinished? onBlock, CancellationToken cancel, IDecodeObserver? observer = null)
    {
        _model = model; _o = options; _spec = speculator; _onBlock = onBlock; _cancel = cancel; _observer = observer;
        _before = new long[options.BlockLength];
        _rule = new StepRule(options, model.Spec.Tokens.Mask, region, length);
        _batch = prompts.Count;
        _b = options.BlockLength;
        _region = region;
        _mask = model.Spec.Tokens.Mask;
        _eos = model.Spec.Tokens.Eos;
        _topJ = Math.Max(speculator?.TopTokenRanks ?? 0, observer?.TopTokenRanks ?? 0);
        _maxRows = _batch * (1 + (speculator?.MaxDrafts ?? 0));
        _state = new long[_batch * _b];
        _rows = new long[_maxRows * _b];
        _x0 = new long[_maxRows * _b];
        _conf = new double[_maxRows * _b];
        _topP = new double[Math.Max(1, _maxRows * _b * _topJ)];
        _topTok = new long[Math.Max(1, _maxRows * _b * _topJ)];
        _stepIndex = new long[_maxRows];
        _masked = new bool[_b];
        _chosen = new int[_b];
        _initialMasks = new int[_batch];
        _stepInBlock = new int[_batch];
        _globalStep = new int[_batch];
        _finished = new bool[_batch];
        _blocks = (length - region) / _b;
        _tail = prompts.Count == 1 ? Math.Max(0, prompts[0].Length - region) : 0;
        _tailTokens = prompts[0].AsSpan(prompts[0].Length - _tail).ToArray();
        _genLength = _blocks * _b - _tail;
        _generated = new long[_batch * _genLength];
        _pTopP = new double[Math.Max(1, _b * _topJ)];
        _pTopTok = new long[Math.Max(1, _b * _topJ)];
        Stats = new DecodingStatistics[_batch];
        for (int r = 0; r < _batch; r++) Stats[r] = new DecodingStatistics();

        var tokens = new long[_batch * length];
        var positions = new long[_batch * length];
        var valid = new bool[_batch * length];
        for (int r = 0; r < _batch; r++)
        {
            var p = prompts[r];
            int pad = Math.Max(0, region - p.Length);
            for (int i = 0; i < length; i++)
            {
                int o = r * length + i;
                tokens[o] = i < pad ? model.Spec.Tokens.Pad : i < pad + p.Length ? p[i - pad] : _mask;
                positions[o] = Math.Max(0, i - pad);
                valid[o] = i >= pad;
            }
        }
        var dev = model.Device;
        _runner = new ForwardRunner(model, options, tensor(tokens, new long[] { _batch, length }).to(dev),
            tensor(positions, new long[] { _batch, length }).to(dev), tensor(valid, new long[] { _batch, 1, 1, length }).to(dev), region);
    }

    public long[] Generated(int r) => _generated.AsSpan(r * _genLength, _genLength).ToArray();

    public void Run()
    {
        try
        {
            if (_runner.Prefill()) CountForward(ForwardKind.Prefill, 1);
            for (int blk = 0; blk < _blocks; blk++)
            {
                _cancel.ThrowIfCancellationRequested();
                RunBlock(blk);
                if (AllFinished()) break;
            }
        }
        finally { _runner.Dispose(); _rule.Dispose(); }
    }

    private bool AllFinished()
    {
        foreach (var f in _finished) if (!f) return false;
        return true;
    }

    private void CountForward(ForwardKind kind, int rowsPerSequence)
    {
        for (int r = 0; r < _batch; r++)
        {
            if (_finished[r]) continue;
            // In a batch, a row whose block is already decided rides along without needing the forward.
            if (kind == ForwardKind.Step && _state.AsSpan(r * _b, _b).IndexOf((long)_mask) < 0) continue;
            Stats[r].Nfe++;
            _observer?.OnForward(r, _currentBlock, kind, rowsPerSequence);
        }
    }

    private void RunBlock(int blk)
    {
        int start = _region + blk * _b;
        _currentStart = start;
        _currentBlock = blk;
        for (int r = 0; r < _batch; r++)
        {
            int head = blk == 0 ? _tail : 0;
            for (int i = 0; i < _b; i++) _state[r * _b + i] = _finished[r] ? _eos : i < head ? _tailTokens[i] : _mask;
            _initialMasks[r] = _finished[r] ? 0 : _b - head;
            _stepInBlock[r] = 0;
        }
        _pValid = false;
        using (var first = _runner.BeginBlock(start))
        {
            if (first is not null)
            {
                CountForward(ForwardKind.BlockStart, 1);
                StepFromLogits(first, rows: _batch, perSequence: 1);
            }
        }
        int guard = 0;
        while (AnyMasked())
        {
            _cancel.ThrowIfCancellationRequested();
            // Every step commits at least one token, except Dream's timestep steps, which are at most the steps per block.
            if (++guard > _b + _rule.StepsPerBlock + 1) throw new InvalidOperationException($"decoder made no progress in block {blk} (a step committed nothing)");
            int perSequence = 1;
            for (int r = 0; r < _batch; r++) _state.AsSpan(r * _b, _b).CopyTo(_rows.AsSpan(r * _b, _b));
            if (_spec is not null && _pValid)
            {
                // One sequence: rows = [state | drafts].
                int d = _spec.Draft(_state.AsSpan(0, _b), _mask, _pTopP, _pTopTok, _rows.AsSpan(_b, _spec.MaxDrafts * _b));
                perSequence = 1 + d;
            }
            int rows = _batch * perSequence;
            using (var scope = NewDisposeScope())
            {
                var rowT = tensor(_rows.AsSpan(0, rows * _b).ToArray(), new long[] { rows, _b }).to(_model.Device);
                CountUpload();
                var logits = _runner.Step(start, rowT);
                CountForward(ForwardKind.Step, perSequence);
                for (int r = 0; r < _batch; r++)
                    if (!_finished[r] && _state.AsSpan(r * _b, _b).IndexOf((long)_mask) >= 0) { Stats[r].StepForwards++; Stats[r].RowsTotal += perSequence; if (perSequence > 1) Stats[r].VerificationForwards++; }
                StepFromLogits(logits, rows, perSequence);
            }
            RecordLiveTensors();
        }
        for (int r = 0; r < _batch; r++)
        {
            if (_finished[r]) continue;
            Stats[r].StepsPerBlock.Add(_stepInBlock[r]);
        }
        if (_runner.EndBlock(start)) CountForward(ForwardKind.BlockEnd, 1);
        for (int r = 0; r < _batch; r++)
        {
            if (_finished[r]) continue;
            int head = blk == 0 ? _tail : 0;
            var block = _state.AsSpan(r * _b + head, _b - head);
            int at = blk * _b - _tail + head;
            block.CopyTo(_generated.AsSpan(r * _genLength + at, block.Length));
            Stats[r].TokensCommitted += block.Length;
            _onBlock?.Invoke(r, blk, block);
            if ((_o.EarlyStop && EndsText(block)) || HoldsStopToken(_generated.AsSpan(r * _genLength, at + block.Length)))
            {
                _finished[r] = true;
                int done = at + block.Length;
                _generated.AsSpan(r * _genLength + done, _genLength - done).Fill(_eos);
            }
        }
    }

    /// <summary>Counts live tensors once a step's scope is closed: a step must leave nothing behind (docs/decoding.md).</summary>
    private void RecordLiveTensors()
    {
        long live = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        foreach (var s in Stats)
        {
            if (s.LiveTensorsFirstStep < 0) s.LiveTensorsFirstStep = live;
            if (live > s.LiveTensorsPeak) s.LiveTensorsPeak = live;
            s.LiveTensorsLastStep = live;
        }
    }

    /// <summary>SDAR's stop: the generation so far holds one of <see cref="DecodingOptions.StopTokens"/>.</summary>
    private bool HoldsStopToken(ReadOnlySpan<long> generated)
    {
        foreach (int t in _o.StopTokens) if (generated.IndexOf((long)t) >= 0) return true;
        return false;
    }

    /// <summary>The block ends the text: it holds an EOS and only EOS follows it.</summary>
    private bool EndsText(ReadOnlySpan<long> block)
    {
        int first = block.IndexOf((long)_eos);
        if (first < 0) return false;
        for (int i = first; i < block.Length; i++) if (block[i] != _eos) return false;
        return true;
    }

    private bool AnyMasked()
    {
        for (int r = 0; r < _batch; r++)
            if (!_finished[r] && _state.AsSpan(r * _b, _b).IndexOf((long)_mask) >= 0) return true;
        return false;
    }

    /// <summary>Scores all rows, takes each sequence's step from its state row, then walks its accepted drafts.</summary>
    private void StepFromLogits(Tensor logits, int rows, int perSequence)
    {
        for (int r = 0; r < _batch; r++)
        {
            _stepIndex[r * perSequence] = _globalStep[r];
            for (int d = 1; d < perSequence; d++) _stepIndex[r * perSequence + d] = _globalStep[r] + _spec!.Depth(d - 1);
        }
        int n = rows * _b;
        long copiesBefore = HostCopy.Count;
        _rule.Score(logits, _stepIndex.AsSpan(0, rows), _x0.AsSpan(0, n), _conf.AsSpan(0, n),
            _topP.AsSpan(0, n * _topJ), _topTok.AsSpan(0, n * _topJ), _topJ, (perSequence == 1 ? _state : _rows).AsSpan(0, n));
        long copies = HostCopy.Count - copiesBefore;
        for (int r = 0; r < _batch; r++)
        {
            if (_finished[r] || _state.AsSpan(r * _b, _b).IndexOf((long)_mask) < 0) continue;
            // Shared by the batch: each sequence waited for the same copies.
            Stats[r].ScoredForwards++;
            Stats[r].DeviceToHostCopies += copies;
        }
        bool changed = false;
        for (int r = 0; r < _batch; r++)
        {
            if (_finished[r]) continue;
            var state = _state.AsSpan(r * _b, _b);
            if (state.IndexOf((long)_mask) < 0) continue;
            int row = r * perSequence;
            Commit(r, row, free: false);
            changed = true;
            if (perSequence > 1)
            {
                int node = -1, depth = 0;
                while (state.IndexOf((long)_mask) >= 0)
                {
                    int q = _spec!.Match(node, state);
                    if (q < 0 || q + 1 >= perSequence) break;
                    Commit(r, row + 1 + q, free: true);
                    Stats[r].FreeSteps++;
                    node = q;
                    depth++;
                }
                Stats[r].RecordAccepted(depth);
            }
        }
        if (changed) WriteStates();
    }

    /// <summary>Applies the step rule to sequence r using the distribution of row `row`; that distribution becomes P.</summary>
    private void Commit(int r, int row, bool free)
    {
        var state = _state.AsSpan(r * _b, _b);
        if (_observer is not null) state.CopyTo(_before);
        for (int i = 0; i < _b; i++) _masked[i] = state[i] == _mask;
        int count = _rule.Select(_masked, _conf.AsSpan(row * _b, _b), _initialMasks[r], _stepInBlock[r], _chosen, _globalStep[r]);
        for (int c = 0; c < count; c++)
        {
            int i = _chosen[c];
            state[i] = _x0[row * _b + i];
        }
        _observer?.OnStep(r, _currentBlock, _stepInBlock[r], _before, _topP.AsSpan(row * _b * _topJ, _b * _topJ),
            _topTok.AsSpan(row * _b * _topJ, _b * _topJ), state, free);
        _stepInBlock[r]++;
        _globalStep[r]++;
        Stats[r].Steps++;
        if (_spec is not null)
        {
            // P for drafting, repacked to the speculator's stride (an observer may ask for more ranks).
            int sj = _spec.TopTokenRanks;
            for (int i = 0; i < _b; i++)
            {
                _topP.AsSpan((row * _b + i) * _topJ, sj).CopyTo(_pTopP.AsSpan(i * sj, sj));
                _topTok.AsSpan((row * _b + i) * _topJ, sj).CopyTo(_pTopTok.AsSpan(i * sj, sj));
            }
            _pValid = true;
        }
    }

    private void WriteStates()
    {
        using var scope = NewDisposeScope();
        var blockT = tensor(_state, new long[] { _batch, _b }).to(_model.Device);
        _runner.Tokens.narrow(1, _currentStart, _b).copy_(blockT);
        CountUpload();
    }

    /// <summary>A host-to-device copy of block-sized token rows (on a GPU it waits for an idle device: the host just read the step's result).</summary>
    private void CountUpload()
    {
        for (int r = 0; r < _batch; r++) if (!_finished[r]) Stats[r].HostToDeviceCopies++;
    }
}
