using Spiffy.Decoding;
using Spiffy.Schema.Graphs;
using Spiffy.Speculation;

namespace Spiffy.Calibration;

/// <summary>
/// What a set of baseline trajectories was recorded with: the model, the decoding configuration,
/// the prompts (source range and the file's SHA-256), and how much of each step's distribution was kept (the top <see cref="PositionRanks"/>
/// masked positions by top-1 probability, each with its top <see cref="TokenRanks"/> tokens).
/// </summary>
public sealed record TraceHeader(
    string ModelName,
    string ModelHash,
    GraphDecoding Decoding,
    long Seed,
    bool EarlyStop,
    int MaskId,
    int PositionRanks,
    int TokenRanks,
    string PromptSource,
    int PromptSkip,
    string PromptDigest = "",
    string StopTokens = "")
{
    /// <summary>Tokens per block of the recorded configuration.</summary>
    public int BlockLength => Decoding.BlockLength;
}

/// <summary>
/// One prompt's baseline trajectory in flat arrays. Block b holds steps
/// <c>BlockStepStart[b] .. BlockStepStart[b+1]-1</c>; step s turns state S_s into S_{s+1} by writing
/// <c>CommitTok</c> at <c>CommitPos</c> (block offsets). Its distribution (computed on S_s) is kept
/// as the ranking of S_{s+1}'s masked positions: exactly what drafting at S_{s+1} reads (P), and what
/// calibration expresses the following states against. Every block starts all-masked.
/// </summary>
internal sealed class SequenceTrace
{
    internal SequenceTrace(int promptIndex, int baselineNfe, int[] blockStepStart, int[] blockFixedForwards, bool[] blockStartForward,
        int[] commitStart, int[] commitPos, int[] commitTok, int[] rankStart, int[] rankPos, double[] rankProb, int[] rankTok, int[]? head = null)
    {
        Head = head ?? Array.Empty<int>();
        PromptIndex = promptIndex; BaselineNfe = baselineNfe; BlockStepStart = blockStepStart; BlockFixedForwards = blockFixedForwards;
        BlockStartForward = blockStartForward; CommitStart = commitStart; CommitPos = commitPos; CommitTok = commitTok;
        RankStart = rankStart; RankPos = rankPos; RankProb = rankProb; RankTok = rankTok;
    }

    /// <summary>SDAR: the prompt's tail that fills the head of block 0 before its first step (empty otherwise).</summary>
    public int[] Head { get; }
    /// <summary>Index of the prompt among the recorded ones (0-based, after --skip).</summary>
    public int PromptIndex { get; }
    /// <summary>The plain decoder's forwards on this prompt (checked against the trace when recorded).</summary>
    public int BaselineNfe { get; }
    public int BlockCount => BlockFixedForwards.Length;
    public int StepCount => CommitStart.Length - 1;
    public int[] BlockStepStart { get; }
    /// <summary>Forwards of a block that are not step forwards: SDAR's prefill (block 0) and block-end, the block-start forward.</summary>
    public int[] BlockFixedForwards { get; }
    /// <summary>True when the block's first step came from the block-start forward (prefix/dual cache).</summary>
    public bool[] BlockStartForward { get; }
    public int[] CommitStart { get; }
    public int[] CommitPos { get; }
    public int[] CommitTok { get; }
    /// <summary>Per step: range into <see cref="RankPos"/> (and, times J, into RankProb/RankTok).</summary>
    public int[] RankStart { get; }
    public int[] RankPos { get; }
    public double[] RankProb { get; }
    public int[] RankTok { get; }

    /// <summary>Forwards the plain decoder needs for block b: its fixed forwards plus one per step not taken by the block-start forward.</summary>
    public int BaselineBlockForwards(int b)
        => BlockFixedForwards[b] + (BlockStepStart[b + 1] - BlockStepStart[b]) - (BlockStartForward[b] ? 1 : 0);

    /// <summary>Throws <see cref="InvalidDataException"/> when the arrays are inconsistent (a damaged trace file).</summary>
    internal void Check(TraceHeader h)
    {
        void Fail(string what) => throw new InvalidDataException($"trace of prompt {PromptIndex}: {what}");
        if (BlockStepStart.Length != BlockCount + 1 || BlockStartForward.Length != BlockCount) Fail("block tables disagree");
        if (BlockStepStart[0] != 0 || BlockStepStart[BlockCount] != StepCount) Fail("block step ranges do not cover the steps");
        for (int b = 0; b < BlockCount; b++)
            if (BlockStepStart[b + 1] <= BlockStepStart[b]) Fail($"block {b} has no steps");
        if (CommitStart[0] != 0 || CommitStart[StepCount] != CommitPos.Length || CommitTok.Length != CommitPos.Length) Fail("commit table is inconsistent");
        if (RankStart.Length != StepCount + 1 || RankStart[0] != 0 || RankStart[StepCount] != RankPos.Length) Fail("rank table is inconsistent");
        if (RankProb.Length != RankPos.Length * h.TokenRanks || RankTok.Length != RankProb.Length) Fail("distribution table is inconsistent");
        for (int s = 0; s < StepCount; s++)
            if (CommitStart[s + 1] < CommitStart[s] || RankStart[s + 1] < RankStart[s] || RankStart[s + 1] - RankStart[s] > h.PositionRanks)
                Fail($"step {s} ranges are invalid");
        foreach (int p in CommitPos) if (p < 0 || p >= h.BlockLength) Fail("a committed position lies outside the block");
        if (Head.Length >= h.BlockLength) Fail("the prompt's tail fills the whole first block");
        // SDAR's overfull top-k rewrites decided positions, the prompt's tail included.
        for (int c = CommitStart[0]; !h.Decoding.OverfullTopK && c < CommitStart[Math.Min(StepCount, BlockStepStart[Math.Min(1, BlockCount)])]; c++)
            if (CommitPos[c] < Head.Length) Fail("a step of block 0 commits a position of the prompt's tail");
        foreach (int p in RankPos) if (p < 0 || p >= h.BlockLength) Fail("a ranked position lies outside the block");
        int nfe = 0;
        for (int b = 0; b < BlockCount; b++) nfe += BaselineBlockForwards(b);
        if (nfe != BaselineNfe) Fail($"the recorded forwards add up to {nfe}, not the baseline's {BaselineNfe}");
    }
}

/// <summary>Recorded baseline trajectories of several prompts under one configuration.</summary>
public sealed class TraceSet
{
    internal TraceSet(TraceHeader header, IReadOnlyList<SequenceTrace> sequences)
    {
        Header = header;
        Sequences = sequences;
        foreach (var s in sequences) s.Check(header);
    }

    /// <summary>How the trajectories were recorded.</summary>
    public TraceHeader Header { get; }
    internal IReadOnlyList<SequenceTrace> Sequences { get; }

    /// <summary>Recorded problems.</summary>
    public int Count => Sequences.Count;

    /// <summary>The plain decoder's forwards over all recorded problems.</summary>
    public long BaselineNfe
    {
        get { long n = 0; foreach (var s in Sequences) n += s.BaselineNfe; return n; }
    }

    /// <summary>Decoding steps over all recorded problems.</summary>
    public long Steps
    {
        get { long n = 0; foreach (var s in Sequences) n += s.StepCount; return n; }
    }

    /// <summary>Steps at which a speculator drafts (every step but a block's first): the observations calibration counts.</summary>
    public long DraftableSteps
    {
        get
        {
            long n = 0;
            foreach (var s in Sequences)
                for (int b = 0; b < s.BlockCount; b++) n += s.BlockStepStart[b + 1] - s.BlockStepStart[b] - 1;
            return n;
        }
    }

    /// <summary>Why these traces cannot replay a graph with these ranks (null when they can).</summary>
    internal string? CannotReplay(int maxPositionRank, int maxTokenRank)
    {
        if (maxPositionRank > Header.PositionRanks)
            return $"the graph uses position rank {maxPositionRank} but the traces kept only {Header.PositionRanks} (record them with "
                + $"--max-position-rank >= {maxPositionRank})";
        if (maxTokenRank > Header.TokenRanks)
            return $"the graph uses token rank {maxTokenRank} but the traces kept only {Header.TokenRanks} (record them with "
                + $"--max-token-rank >= {maxTokenRank})";
        return null;
    }
}

/// <summary>
/// Builds one <see cref="SequenceTrace"/> from a decoder's callbacks (or by hand, in tests): forwards
/// and steps arrive in decoding order.
/// </summary>
internal sealed class SequenceTraceBuilder
{
    private readonly int _b, _r, _j;
    private readonly long _mask;
    private readonly int[] _ranked;
    private readonly List<int> _blockStepStart = new(), _blockFixed = new(), _blockStepForwards = new();
    private readonly List<bool> _blockStart = new();
    private readonly List<int> _commitStart = new() { 0 }, _commitPos = new(), _commitTok = new();
    private readonly List<int> _rankStart = new() { 0 }, _rankPos = new(), _rankTok = new();
    private readonly List<double> _rankProb = new();
    private int[] _head = Array.Empty<int>();
    private int _pendingFixed, _pendingSteps, _block = -1;
    private bool _pendingBlockStart;
    private readonly bool _rewrites;

    /// <param name="blockLength">B.</param>
    /// <param name="maskId">The mask token id.</param>
    /// <param name="positionRanks">R: masked positions kept per step (by the distribution's top-1 probability).</param>
    /// <param name="tokenRanks">J: token ranks kept per position; the distributions passed to <see cref="AddStep"/> have this stride.</param>
    /// <param name="rewrites">Steps may rewrite decided positions (SDAR's overfull top-k); recorded as commits.</param>
    public SequenceTraceBuilder(int blockLength, long maskId, int positionRanks, int tokenRanks, bool rewrites = false)
    {
        _rewrites = rewrites;
        if (positionRanks < 1 || tokenRanks < 1) throw new ArgumentOutOfRangeException(nameof(positionRanks), "position and token ranks must be >= 1");
        _b = blockLength; _mask = maskId; _r = Math.Min(positionRanks, blockLength); _j = tokenRanks;
        _ranked = new int[_r];
    }

    /// <summary>A forward the decoder counted for this sequence (forwards of a new block arrive before its first step).</summary>
    public void AddForward(ForwardKind kind, int block)
    {
        if (block < _block) throw new InvalidOperationException("forwards must arrive in block order");
        bool current = block == _block;
        switch (kind)
        {
            case ForwardKind.Step:
                if (current) _blockStepForwards[^1]++; else _pendingSteps++;
                break;
            case ForwardKind.BlockEnd:
                if (!current) throw new InvalidOperationException("block-end forward of a block without steps");
                _blockFixed[^1]++;
                break;
            default:
                // Prefill and block-start forwards precede the block's first step.
                if (current) throw new InvalidOperationException($"{kind} forward in the middle of block {block}");
                _pendingFixed++;
                if (kind == ForwardKind.BlockStart) _pendingBlockStart = true;
                break;
        }
    }

    /// <summary>
    /// One step of block <paramref name="block"/>: the state before, the distribution computed on it
    /// ([B x J], descending), and the state after.
    /// </summary>
    public void AddStep(int block, ReadOnlySpan<long> before, ReadOnlySpan<double> topProbs, ReadOnlySpan<long> topTokens, ReadOnlySpan<long> after)
    {
        if (before.Length != _b || after.Length != _b || topProbs.Length < _b * _j || topTokens.Length < _b * _j)
            throw new ArgumentException("state or distribution has the wrong size");
        if (block != _block)
        {
            if (block < _block) throw new InvalidOperationException("blocks must arrive in order");
            // SDAR's first decoded block may start with the prompt's tail (a prefix); every other block starts fully masked.
            int head = 0;
            while (head < _b && before[head] != _mask) head++;
            for (int i = head; i < _b; i++) if (before[i] != _mask) throw new InvalidOperationException("a block must start masked after the prompt's tail");
            if (head > 0 && _block >= 0) throw new InvalidOperationException("only the first block may start with the prompt's tail");
            if (head > 0) { _head = new int[head]; for (int i = 0; i < head; i++) _head[i] = checked((int)before[i]); }
            _block = block;
            _blockStepStart.Add(_commitStart.Count - 1);
            _blockFixed.Add(_pendingFixed);
            _blockStart.Add(_pendingBlockStart);
            _blockStepForwards.Add(_pendingSteps);
            _pendingFixed = 0;
            _pendingSteps = 0;
            _pendingBlockStart = false;
        }
        for (int i = 0; i < _b; i++)
        {
            if (before[i] == after[i]) continue;
            if (before[i] != _mask && !_rewrites) throw new InvalidOperationException($"position {i} changed after it was committed");
            _commitPos.Add(i);
            _commitTok.Add(checked((int)after[i]));
        }
        _commitStart.Add(_commitPos.Count);
        int n = DraftRanking.RankPositions(after, _mask, topProbs, _j, _ranked);
        for (int k = 0; k < n; k++)
        {
            int pos = _ranked[k];
            _rankPos.Add(pos);
            for (int j = 0; j < _j; j++)
            {
                _rankProb.Add(topProbs[pos * _j + j]);
                _rankTok.Add(checked((int)topTokens[pos * _j + j]));
            }
        }
        _rankStart.Add(_rankPos.Count);
    }

    /// <summary>
    /// The finished trace. With <paramref name="baselineNfe"/> (a recorded run) the step forwards seen
    /// must account for the steps and add up to the decoder's count, else the decode loop's semantics
    /// changed and replay would be wrong; without it (a trace built by hand) one forward per step is assumed.
    /// </summary>
    public SequenceTrace Build(int promptIndex, int? baselineNfe = null)
    {
        int blocks = _blockFixed.Count;
        var stepStart = new int[blocks + 1];
        for (int b = 0; b < blocks; b++) stepStart[b] = _blockStepStart[b];
        stepStart[blocks] = _commitStart.Count - 1;
        int nfe = 0;
        for (int b = 0; b < blocks; b++)
        {
            int steps = stepStart[b + 1] - stepStart[b];
            int expected = steps - (_blockStart[b] ? 1 : 0);
            if (baselineNfe is not null && _blockStepForwards[b] != expected)
                throw new InvalidOperationException($"block {b}: {steps} steps but {_blockStepForwards[b]} step forwards (expected {expected}); the decode "
                    + $"loop no longer takes one step per plain forward");
            nfe += _blockFixed[b] + expected;
        }
        if (baselineNfe is not null && baselineNfe.Value != nfe)
            throw new InvalidOperationException($"the decoder counted {baselineNfe} forwards but the trace accounts for {nfe}");
        return new SequenceTrace(promptIndex, nfe, stepStart, _blockFixed.ToArray(), _blockStart.ToArray(), _commitStart.ToArray(),
            _commitPos.ToArray(), _commitTok.ToArray(), _rankStart.ToArray(), _rankPos.ToArray(), _rankProb.ToArray(), _rankTok.ToArray(), _head);
    }
}
