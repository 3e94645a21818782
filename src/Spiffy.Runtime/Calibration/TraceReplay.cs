using System.Globalization;
using System.Text;
using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Calibration;

/// <summary>What Spiffy would do on a set of traces: forwards, acceptance and verification width.</summary>
internal sealed class ReplayResult
{
    public ReplayResult(int sequences) { SequenceNfe = new long[sequences]; }

    /// <summary>Forwards with speculation.</summary>
    public long Nfe { get; internal set; }
    /// <summary>Forwards of the plain decoder on the same prompts.</summary>
    public long BaselineNfe { get; internal set; }
    /// <summary>Per recorded sequence (in trace order).</summary>
    public long[] SequenceNfe { get; }
    /// <summary>Spiffy's counters over every replayed sequence: step forwards, rows, acceptance (as a generation counts them).</summary>
    public SpeculationCounters Speculation { get; } = new SpeculationCounters();

    public double Speedup => Nfe == 0 ? 0 : (double)BaselineNfe / Nfe;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"NFE {Nfe} vs {BaselineNfe} plain ({Speedup:F2}x fewer), accepted/forward {Speculation.AcceptMean:F2}, rows/forward {Speculation.RowsPerForward:F2}");
}

/// <summary>
/// Exact replay of Spiffy against recorded baseline trajectories. It mirrors the decode loop: no drafts
/// at a block's first step; afterwards drafts come from <see cref="GraphSpeculator"/> itself, fed the
/// recorded state and the distribution that produced it (so pruning and instantiation are identical),
/// the root row takes the recorded step, and the walk accepts while the true next state equals a child
/// of the last accepted draft; an accepted draft's distribution is the recorded one of the same state.
/// </summary>
internal sealed class TraceReplay
{
    private readonly TraceSet _traces;
    private readonly int _b, _jRec;
    private readonly long _mask;
    private readonly long[] _state;

    public TraceReplay(TraceSet traces)
    {
        _traces = traces;
        _b = traces.Header.BlockLength;
        _jRec = traces.Header.TokenRanks;
        _mask = traces.Header.MaskId;
        _state = new long[_b];
    }

    public TraceSet Traces => _traces;

    /// <summary>Replays <paramref name="graph"/> with D* <paramref name="keep"/> (default: all).</summary>
    public ReplayResult Replay(GraphSpec graph, DraftKeep keep = default)
    {
        var dg = new DraftGraph(graph);
        string? why = _traces.CannotReplay(dg.MaxPositionRank, dg.MaxTokenRank);
        if (why is not null) throw new ArgumentException(why);
        return Replay(new GraphSpeculator(dg, _b, keep));
    }

    /// <summary>Replays with a speculator built for these traces' block length (its ranks must be within the recorded ones).</summary>
    public ReplayResult Replay(GraphSpeculator spec)
    {
        string? why = _traces.CannotReplay(spec.Graph.MaxPositionRank, spec.Graph.MaxTokenRank);
        if (why is not null) throw new ArgumentException(why);
        int j = spec.TopTokenRanks;
        var topP = new double[_b * j];
        var topTok = new long[_b * j];
        var drafts = new long[Math.Max(1, spec.MaxDrafts) * _b];
        var result = new ReplayResult(_traces.Sequences.Count);
        for (int si = 0; si < _traces.Sequences.Count; si++)
        {
            var s = _traces.Sequences[si];
            long nfe = 0;
            for (int blk = 0; blk < s.BlockCount; blk++)
            {
                int first = s.BlockStepStart[blk], m = s.BlockStepStart[blk + 1] - first;
                result.BaselineNfe += s.BaselineBlockForwards(blk);
                // Fixed forwards, and the first step: from the block-start forward or one plain step forward.
                nfe += s.BlockFixedForwards[blk];
                if (!s.BlockStartForward[blk]) { nfe++; result.Speculation.RecordStepForward(0); }
                _state.AsSpan().Fill(_mask);
                if (blk == 0) for (int i = 0; i < s.Head.Length; i++) _state[i] = s.Head[i];
                Apply(s, first);
                int t = 1;
                while (t < m)
                {
                    LoadP(s, first + t - 1, j, topP, topTok);
                    int d = spec.Draft(_state, (int)_mask, topP, topTok, drafts);
                    nfe++;
                    result.Speculation.RecordStepForward(d);
                    Apply(s, first + t);
                    t++;
                    if (d == 0) continue;
                    var walk = new RecordedWalk(this, s, first, m, t);
                    t += AcceptanceWalk.Walk(spec, ref walk, result.Speculation);
                }
            }
            result.SequenceNfe[si] = nfe;
            result.Nfe += nfe;
        }
        return result;
    }

    /// <summary>The walk over a recorded block: an accepted draft's distribution is the
    /// recorded one of the same state, so its step is the recorded next step.</summary>
    private struct RecordedWalk(TraceReplay replay, SequenceTrace s, int first, int steps, int taken) : IWalkTarget
    {
        private int _t = taken;
        public readonly bool StepsLeft => _t < steps;
        public readonly ReadOnlySpan<long> State => replay._state;
        public void Take(int draft, int depth)
        {
            replay.Apply(s, first + _t);
            _t++;
        }
    }

    /// <summary>The state after global step <paramref name="step"/>: write its committed tokens.</summary>
    private void Apply(SequenceTrace s, int step)
    {
        for (int c = s.CommitStart[step]; c < s.CommitStart[step + 1]; c++) _state[s.CommitPos[c]] = s.CommitTok[c];
    }

    /// <summary>
    /// P for drafting at the state after <paramref name="step"/>: the recorded top positions with their
    /// first <paramref name="j"/> token ranks. Other masked positions get probability -1 so they rank
    /// after every recorded one, in position order, as they did live (only the top ranks are ever read).
    /// </summary>
    private void LoadP(SequenceTrace s, int step, int j, double[] topP, long[] topTok)
    {
        topP.AsSpan().Fill(-1);
        for (int k = s.RankStart[step]; k < s.RankStart[step + 1]; k++)
        {
            int pos = s.RankPos[k];
            for (int r = 0; r < j; r++)
            {
                topP[pos * j + r] = s.RankProb[k * _jRec + r];
                topTok[pos * j + r] = s.RankTok[k * _jRec + r];
            }
        }
    }
}
