using System.Runtime.InteropServices;
using Spiffy.Modeling;
using Spiffy.Native;
using static TorchSharp.torch;

namespace Spiffy.Decoding;

/// <summary>
/// The state machine of one <c>DiffusionDecoder.Generate</c>
/// call. Host buffers are sized once; a step runs on native handles in an arena scope (<see cref="TensorArena"/>)
/// and allocates nothing managed in steady state (docs/decoding.md).
/// </summary>
/// <remarks>
/// Spiffy for a batch: every sequence drafts its own rows from its own drafting distribution P and
/// walks its own acceptance; one step forward carries them all as [Bt x m] rows, m = 1 + the most
/// drafts any sequence made this step. A sequence with fewer drafts, or whose block is decided (or
/// that stopped early), rides along with copies of its state row: the batch dimension of the cache and
/// of every tensor stays Bt for the whole generation and m takes at most 1 + MaxDrafts values, whereas
/// dropping a sequence out would change the batch per step and need its cached context gathered out of
/// the K/V cache (a copy of the cache) every forward. A riding row's logits are never read.
/// </remarks>
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
    private readonly double[] _pTopP;      // drafting distribution P of each sequence's current state: [Bt x B x J]
    private readonly long[] _pTopTok;      // [Bt x B x J]
    private readonly bool[] _pValid;       // [Bt] P is known (not at a block's first step without a cache)
    private readonly long[] _draftRows;    // [Bt x MaxDrafts x B] each sequence's drafts of this step
    private readonly int[] _drafts;        // [Bt] drafts of this step per sequence
    private readonly int[] _draftDepth;    // [Bt x MaxDrafts] steps ahead of the root each draft stands for
    private readonly int _maxDrafts;
    private int _currentStart;
    private int _lastDrafted;              // the sequence whose drafts the speculator holds (-1: none)
    private readonly ForwardRunner _runner;
    private readonly Tensor _rowsHost;     // [maxRows x B] int64 on the CPU: a step's rows, written in place (no array per step)
    private readonly Tensor _stateHost;    // [Bt x B] int64 on the CPU: the committed block states
    private long _firstStepBytes = -1;     // managed bytes allocated on this thread when the first step forward ended
    private int _firstStepForwards;
    private long _firstStepTensors;
    private long _firstStepNative;
    private readonly bool _onCpu;          // the model's device is the CPU: the host tensors are fed as they are
    private readonly TorchSharp.DeviceType _deviceType;
    private readonly int _deviceIndex;

    public DecodingStatistics[] Stats { get; }

    /// <summary>The whole batch: the forwards actually run and the rows they carried.</summary>
    public BatchStatistics Batch { get; }

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
        _maxDrafts = speculator?.MaxDrafts ?? 0;
        _maxRows = _batch * (1 + _maxDrafts);
        _rule.Reserve(_maxRows, _topJ);
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
        int sj = speculator?.TopTokenRanks ?? 0;
        _pTopP = new double[Math.Max(1, _batch * _b * sj)];
        _pTopTok = new long[Math.Max(1, _batch * _b * sj)];
        _pValid = new bool[_batch];
        _draftRows = new long[Math.Max(1, _batch * _maxDrafts * _b)];
        _drafts = new int[_batch];
        _draftDepth = new int[Math.Max(1, _batch * _maxDrafts)];
        Batch = new BatchStatistics { Sequences = _batch };
        Stats = new DecodingStatistics[_batch];
        for (int r = 0; r < _batch; r++)
        {
            Stats[r] = new DecodingStatistics();
            Stats[r].StepsPerBlock.Capacity = _blocks; // one entry per block, grown here rather than during the steps
        }

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
        _onCpu = dev.type == TorchSharp.DeviceType.CPU;
        _deviceType = dev.type;
        _deviceIndex = dev.index;
        _rowsHost = zeros(new long[] { _maxRows, _b }, ScalarType.Int64).DetachFromDisposeScope();
        _stateHost = zeros(new long[] { _batch, _b }, ScalarType.Int64).DetachFromDisposeScope();
        _runner = new ForwardRunner(model, options, tensor(tokens, new long[] { _batch, length }).to(dev),
            tensor(positions, new long[] { _batch, length }).to(dev), tensor(valid, new long[] { _batch, 1, 1, length }).to(dev), region);
    }

    public long[] Generated(int r) => _generated.AsSpan(r * _genLength, _genLength).ToArray();

    public void Run()
    {
        try
        {
            if (_runner.Prefill()) CountForward(ForwardKind.Prefill);
            for (int blk = 0; blk < _blocks; blk++)
            {
                _cancel.ThrowIfCancellationRequested();
                RunBlock(blk);
                if (AllFinished()) break;
            }
        }
        finally { _runner.Dispose(); _rule.Dispose(); _rowsHost.Dispose(); _stateHost.Dispose(); }
    }

    private bool AllFinished()
    {
        foreach (var f in _finished) if (!f) return false;
        return true;
    }

    /// <summary>Whether sequence r still decodes the current block (not stopped early, a mask left).</summary>
    private bool Active(int r) => !_finished[r] && _state.AsSpan(r * _b, _b).IndexOf((long)_mask) >= 0;

    /// <summary>A forward without drafts (prefill, block start, block end): every sequence not stopped early counts it.</summary>
    private void CountForward(ForwardKind kind)
    {
        Batch.Forwards++;
        for (int r = 0; r < _batch; r++)
        {
            if (_finished[r]) continue;
            Stats[r].Nfe++;
            _observer?.OnForward(r, _currentBlock, kind, 1);
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
            _pValid[r] = false;
        }
        using (var scope = TensorArena.Open())
        {
            var first = _runner.BeginBlock(start);
            if (!first.IsNull)
            {
                CountForward(ForwardKind.BlockStart);
                StepFromLogits(first, perSequence: 1);
            }
        }
        int guard = 0;
        while (AnyMasked())
        {
            _cancel.ThrowIfCancellationRequested();
            // Every step commits at least one token, except Dream's timestep steps, which are at most the steps per block.
            if (++guard > _b + _rule.StepsPerBlock + 1)
                throw new InvalidOperationException($"decoder made no progress in block {blk} (a step committed nothing)");
            int perSequence = DraftAll();
            int rows = _batch * perSequence;
            using (var scope = TensorArena.Open())
            {
                var rowsHost = NativeTensor.Of(_rowsHost);
                _rows.AsSpan(0, rows * _b).CopyTo(rowsHost.Data<long>());
                var rowT = rowsHost.Narrow(0, 0, rows);
                if (!_onCpu) rowT = rowT.ToDevice(_deviceType, _deviceIndex);
                CountUpload();
                var logits = _runner.Step(start, rowT);
                Batch.Forwards++;
                Batch.StepForwards++;
                Batch.RowsFed += rows;
                for (int r = 0; r < _batch; r++)
                {
                    // In a batch, a sequence whose block is already decided rides along without needing the forward.
                    if (!Active(r)) continue;
                    Stats[r].Nfe++;
                    Stats[r].Speculation.RecordStepForward(_drafts[r]);
                    _observer?.OnForward(r, _currentBlock, ForwardKind.Step, 1 + _drafts[r]);
                }
                StepFromLogits(logits, perSequence);
            }
            RecordLiveTensors();
        }
        for (int r = 0; r < _batch; r++)
        {
            if (_finished[r]) continue;
            Stats[r].StepsPerBlock.Add(_stepInBlock[r]);
        }
        if (_runner.EndBlock(start)) CountForward(ForwardKind.BlockEnd);
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

    /// <summary>
    /// Lays out the rows of a step forward: each sequence drafts from its own state and P, then every
    /// sequence gets m = 1 + (most drafts of any sequence) consecutive rows [state | its drafts | copies
    /// of its state]. Returns m. Without a speculator, or before any sequence has P, m = 1.
    /// </summary>
    private int DraftAll()
    {
        int m = 1;
        _lastDrafted = -1;
        for (int r = 0; r < _batch; r++)
        {
            _drafts[r] = 0;
            if (_spec is null || !_pValid[r] || !Active(r)) continue;
            int sj = _spec.TopTokenRanks;
            int d = _spec.Draft(_state.AsSpan(r * _b, _b), _mask, _pTopP.AsSpan(r * _b * sj, _b * sj), _pTopTok.AsSpan(r * _b * sj, _b * sj),
                _draftRows.AsSpan(r * _maxDrafts * _b, _maxDrafts * _b));
            _drafts[r] = d;
            for (int q = 0; q < d; q++) _draftDepth[r * _maxDrafts + q] = _spec.Depth(q);
            _lastDrafted = r; // even with no drafts: the speculator now holds this call's
            m = Math.Max(m, 1 + d);
        }
        for (int r = 0; r < _batch; r++)
        {
            var state = _state.AsSpan(r * _b, _b);
            int d = _drafts[r];
            state.CopyTo(_rows.AsSpan(r * m * _b, _b));
            if (d > 0) _draftRows.AsSpan(r * _maxDrafts * _b, d * _b).CopyTo(_rows.AsSpan((r * m + 1) * _b, d * _b));
            for (int q = d; q < m - 1; q++) state.CopyTo(_rows.AsSpan((r * m + 1 + q) * _b, _b));
            _stepIndex[r * m] = _globalStep[r];
            for (int q = 0; q < m - 1; q++) _stepIndex[r * m + 1 + q] = _globalStep[r] + (q < d ? _draftDepth[r * _maxDrafts + q] : 0);
        }
        return m;
    }

    /// <summary>Counts live tensors once a step's scope is closed: a step must leave nothing behind (docs/decoding.md).</summary>
    private void RecordLiveTensors()
    {
        // Steady state: managed bytes from the end of the first step forward to the end of the last.
        long bytes = GC.GetAllocatedBytesForCurrentThread();
        var torchStats = TorchSharp.DisposeScopeManager.Statistics;
        long tensors = torchStats.CreatedInScopeCount + torchStats.CreatedOutsideScopeCount;
        long native = TensorArena.Created;
        if (_firstStepBytes < 0)
        {
            _firstStepBytes = bytes;
            _firstStepForwards = Batch.StepForwards;
            _firstStepTensors = tensors;
            _firstStepNative = native;
        }
        Batch.SteadyStateBytes = bytes - _firstStepBytes;
        Batch.SteadyStateTensors = tensors - _firstStepTensors;
        Batch.SteadyStateNativeTensors = native - _firstStepNative;
        Batch.SteadyStateStepForwards = Batch.StepForwards - _firstStepForwards;
        // TorchSharp's live tensors and the native ones still held by open arena scopes (none between steps).
        long live = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount + TensorArena.Current.Live;
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
            if (Active(r)) return true;
        return false;
    }

    /// <summary>
    /// Scores all rows ([Bt x m], <paramref name="perSequence"/> = m), takes each sequence's step from its
    /// state row, then walks its accepted drafts.
    /// </summary>
    private void StepFromLogits(NativeTensor logits, int perSequence)
    {
        if (perSequence == 1) for (int r = 0; r < _batch; r++) _stepIndex[r] = _globalStep[r];
        int rows = _batch * perSequence, n = rows * _b;
        long copiesBefore = HostCopy.Count;
        _rule.Score(logits, _stepIndex.AsSpan(0, rows), _x0.AsSpan(0, n), _conf.AsSpan(0, n),
            _topP.AsSpan(0, n * _topJ), _topTok.AsSpan(0, n * _topJ), _topJ, (perSequence == 1 ? _state : _rows).AsSpan(0, n));
        long copies = HostCopy.Count - copiesBefore;
        Batch.ScoredForwards++;
        Batch.DeviceToHostCopies += copies;
        bool changed = false;
        for (int r = 0; r < _batch; r++)
        {
            if (!Active(r)) continue;
            // Shared by the batch: each sequence waited for the same copies.
            Stats[r].ScoredForwards++;
            Stats[r].DeviceToHostCopies += copies;
            int row = r * perSequence, d = perSequence > 1 ? _drafts[r] : 0;
            // The speculator remembers the drafts of its last Draft call: make them this sequence's again.
            if (d > 0 && r != _lastDrafted) Redraft(r);
            Commit(r, row, free: false);
            changed = true;
            if (d == 0) continue;
            var walk = new LiveWalk(this, r, d, perSequence);
            AcceptanceWalk.Walk(_spec!, ref walk, Stats[r].Speculation);
        }
        if (changed) WriteStates();
    }

    /// <summary>The walk over sequence r's live state: an accepted draft's row gives the next step (checked first).</summary>
    private readonly struct LiveWalk(DecodeLoop loop, int r, int drafts, int perSequence) : IWalkTarget
    {
        public bool StepsLeft => State.IndexOf((long)loop._mask) >= 0;
        public ReadOnlySpan<long> State => loop._state.AsSpan(r * loop._b, loop._b);
        public void Take(int draft, int depth)
        {
            loop.CheckMatch(r, draft, drafts, depth, State, perSequence);
            loop.Commit(r, r * perSequence + 1 + draft, free: true);
        }
    }

    /// <summary>
    /// Drafts sequence r again from the state and P it drafted from (both unchanged until its own commit),
    /// so that <see cref="IStepSpeculator.Match"/> refers to its drafts. Draft is a function of its inputs
    /// (the contract); the same rows must come back.
    /// </summary>
    private void Redraft(int r)
    {
        int sj = _spec!.TopTokenRanks;
        var rows = _draftRows.AsSpan(r * _maxDrafts * _b, _maxDrafts * _b);
        int d = _spec.Draft(_state.AsSpan(r * _b, _b), _mask, _pTopP.AsSpan(r * _b * sj, _b * sj), _pTopTok.AsSpan(r * _b * sj, _b * sj), rows);
        _lastDrafted = r;
        if (d != _drafts[r])
            throw new InvalidOperationException($"the speculator drafted {d} rows for sequence {r} from the same state and distribution that "
                + $"gave {_drafts[r]}: Draft must depend on its arguments only");
    }

    /// <summary>
    /// Lossless by construction: an accepted row is taken only when the row the forward carried equals the
    /// true state and stands for the step about to be taken (its noise was drawn for that step).
    /// </summary>
    private void CheckMatch(int r, int q, int drafts, int depth, ReadOnlySpan<long> state, int perSequence)
    {
        bool ok = q < drafts && _draftDepth[r * _maxDrafts + q] == depth + 1
            && state.SequenceEqual(_rows.AsSpan((r * perSequence + 1 + q) * _b, _b));
        if (!ok)
            throw new InvalidOperationException($"the speculator matched draft {q} of sequence {r}, but the row verified for it is not the current state at "
                + $"depth {depth + 1}: Draft must depend on its arguments only and Match must return one of its draft rows");
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
            int sj = _spec.TopTokenRanks, at = r * _b * sj;
            for (int i = 0; i < _b; i++)
            {
                _topP.AsSpan((row * _b + i) * _topJ, sj).CopyTo(_pTopP.AsSpan(at + i * sj, sj));
                _topTok.AsSpan((row * _b + i) * _topJ, sj).CopyTo(_pTopTok.AsSpan(at + i * sj, sj));
            }
            _pValid[r] = true;
        }
    }

    private void WriteStates()
    {
        using var scope = TensorArena.Open();
        var stateHost = NativeTensor.Of(_stateHost);
        _state.CopyTo(stateHost.Data<long>());
        NativeTensor.Of(_runner.Tokens).Narrow(1, _currentStart, _b).CopyFrom(stateHost);
        CountUpload();
    }

    /// <summary>A host-to-device copy of block-sized token rows (on a GPU it waits for an idle device: the host just read the step's result).</summary>
    private void CountUpload()
    {
        Batch.HostToDeviceCopies++;
        for (int r = 0; r < _batch; r++) if (!_finished[r]) Stats[r].HostToDeviceCopies++;
    }
}
