using System.Globalization;
using System.Text;

namespace Spiffy.Calibration;

/// <summary>Rank and depth limits of formulas (a pair beyond a rank limit drops the formula).</summary>
/// <param name="MaxPositionRank">Highest position rank a node may use (at most the block length).</param>
/// <param name="MaxTokenRank">Highest token rank a node may use.</param>
/// <param name="MaxDepth">Deepest node, in steps ahead of the root.</param>
public sealed record FormulaLimits(int MaxPositionRank, int MaxTokenRank, int MaxDepth)
{
    /// <summary>Throws <see cref="ArgumentException"/> when a limit is below 1 or above the graph format's bound.</summary>
    public void Check()
    {
        if (MaxPositionRank < 1 || MaxTokenRank < 1 || MaxDepth < 1) throw new ArgumentException("rank and depth limits must be >= 1");
        if (MaxPositionRank > 4096 || MaxTokenRank > 4096 || MaxDepth > 4096)
            throw new ArgumentException("rank and depth limits must be <= 4096 (the graph format's bound)");
    }
}

/// <summary>
/// Interned draft formulas: a (pair set, depth) gets a dense id. Pairs are packed as
/// <c>positionRank &lt;&lt; 16 | tokenRank</c> and kept sorted (by position rank), the canonical order.
/// </summary>
internal sealed class FormulaTable
{
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly List<int[]> _pairs = new();
    private readonly List<int> _depth = new();
    private readonly StringBuilder _key = new();

    public int Count => _pairs.Count;
    public int[] Pairs(int id) => _pairs[id];
    public int Depth(int id) => _depth[id];

    public static int Pack(int positionRank, int tokenRank) => positionRank << 16 | tokenRank;
    public static int PositionRank(int pair) => pair >> 16;
    public static int TokenRank(int pair) => pair & 0xFFFF;

    /// <summary>The id of (pairs, depth), adding it when new. <paramref name="sortedPairs"/> must be sorted and is copied.</summary>
    public int Intern(ReadOnlySpan<int> sortedPairs, int depth)
    {
        string key = Key(sortedPairs, depth);
        if (_ids.TryGetValue(key, out int id)) return id;
        id = _pairs.Count;
        _ids[key] = id;
        _pairs.Add(sortedPairs.ToArray());
        _depth.Add(depth);
        return id;
    }

    /// <summary>The id of (pairs, depth) or -1.</summary>
    public int Find(ReadOnlySpan<int> sortedPairs, int depth) => _ids.TryGetValue(Key(sortedPairs, depth), out int id) ? id : -1;

    private string Key(ReadOnlySpan<int> pairs, int depth)
    {
        _key.Clear();
        _key.Append(depth).Append('|');
        foreach (int p in pairs) _key.Append(p).Append(',');
        return _key.ToString();
    }

    /// <summary>"{(1,1),(2,1)}".</summary>
    public static string Format(ReadOnlySpan<int> pairs)
    {
        var sb = new StringBuilder("{");
        for (int i = 0; i < pairs.Length; i++)
            sb.Append(CultureInfo.InvariantCulture, $"{(i > 0 ? "," : "")}({PositionRank(pairs[i])},{TokenRank(pairs[i])})");
        return sb.Append('}').ToString();
    }

    /// <summary>Whether two sorted pair sets are equal.</summary>
    public static bool SamePairs(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);
}

/// <summary>
/// Every draftable step of a trace set with its true future states as formula ids: for state S_t
/// (t >= 1 in its block) and drafting distribution P = the one that produced S_t, entry d-1 is the
/// formula of S_{t+d} relative to (S_t, P), or -1 when a pair exceeds the limits or S_{t+d} is the
/// complete block (never matched: the walk stops when no mask is left). Once -1, deeper entries are
/// -1 too. This is what calibration counts and what the fast replay walks.
/// </summary>
internal sealed class FormulaChains
{
    private readonly int _dmax;
    private readonly int[] _chain;       // [draftable steps x dmax]
    private readonly int[] _blockRow;    // block -> first chain row (state S_1 of the block)
    private readonly int[] _blockSteps;  // block -> m
    private readonly int[] _blockFixed;  // block -> forwards besides the walk's (fixed + the first step's)
    private readonly int _blocks;

    public FormulaChains(TraceSet traces, FormulaTable table, FormulaLimits limits)
    {
        limits.Check();
        string? why = traces.CannotReplay(limits.MaxPositionRank, limits.MaxTokenRank);
        if (why is not null) throw new ArgumentException(why.Replace("the graph uses", "the formula limits use", StringComparison.Ordinal));
        Table = table;
        Limits = limits;
        _dmax = limits.MaxDepth;
        int blocks = 0;
        foreach (var s in traces.Sequences) blocks += s.BlockCount;
        _blocks = blocks;
        _blockRow = new int[blocks];
        _blockSteps = new int[blocks];
        _blockFixed = new int[blocks];
        _chain = new int[checked((int)traces.DraftableSteps * _dmax)];
        int b = traces.Header.BlockLength, jRec = traces.Header.TokenRanks;
        var posRank = new int[b];
        var pairs = new List<int>();
        var sorted = new int[b];
        int blockIndex = 0, row = 0;
        foreach (var s in traces.Sequences)
        {
            for (int blk = 0; blk < s.BlockCount; blk++, blockIndex++)
            {
                int first = s.BlockStepStart[blk], m = s.BlockStepStart[blk + 1] - first;
                _blockRow[blockIndex] = row;
                _blockSteps[blockIndex] = m;
                _blockFixed[blockIndex] = s.BlockFixedForwards[blk] + (s.BlockStartForward[blk] ? 0 : 1);
                for (int t = 1; t < m; t++, row++)
                {
                    var chain = _chain.AsSpan(row * _dmax, _dmax);
                    chain.Fill(-1);
                    // Position ranks of S_t's masked positions under P (recorded with the step that produced S_t).
                    int pStep = first + t - 1, r0 = s.RankStart[pStep], r1 = s.RankStart[pStep + 1];
                    Array.Clear(posRank);
                    for (int k = r0; k < r1; k++) posRank[s.RankPos[k]] = k - r0 + 1;
                    pairs.Clear();
                    for (int d = 1; d <= _dmax && t + d < m; d++)
                    {
                        int step = first + t + d - 1;
                        // A step that commits nothing (Dream's timesteps) leaves the state as it was: no draft
                        // matches it (each holds a pair more than its parent), so the live walk stops there too.
                        if (s.CommitStart[step] == s.CommitStart[step + 1]) break;
                        bool ok = true;
                        for (int c = s.CommitStart[step]; c < s.CommitStart[step + 1] && ok; c++)
                        {
                            int pos = s.CommitPos[c], i = posRank[pos];
                            if (i == 0 || i > limits.MaxPositionRank) { ok = false; break; }
                            int k = r0 + i - 1, j = 0;
                            while (j < limits.MaxTokenRank && s.RankTok[k * jRec + j] != s.CommitTok[c]) j++;
                            if (j == limits.MaxTokenRank) { ok = false; break; }
                            pairs.Add(FormulaTable.Pack(i, j + 1));
                        }
                        if (!ok) break;
                        pairs.CopyTo(sorted);
                        Array.Sort(sorted, 0, pairs.Count);
                        chain[d - 1] = table.Intern(sorted.AsSpan(0, pairs.Count), d);
                    }
                }
            }
        }
    }

    public FormulaTable Table { get; }
    public FormulaLimits Limits { get; }
    public int MaxDepth => _dmax;
    public int DraftableSteps => _chain.Length / _dmax;

    /// <summary>How often each formula id occurred (indexed by id; sized to the table).</summary>
    public long[] Counts()
    {
        var counts = new long[Table.Count];
        foreach (int id in _chain) if (id >= 0) counts[id]++;
        return counts;
    }

    /// <summary>
    /// Forwards with every formula id marked in <paramref name="member"/> drafted (no verification
    /// width limit): exact for a graph holding exactly those nodes with keep = all, since an observed
    /// chain's nodes are parents of one another and always instantiable. Allocation-free.
    /// </summary>
    public long Nfe(ReadOnlySpan<bool> member)
    {
        long nfe = 0;
        for (int blk = 0; blk < _blocks; blk++)
        {
            int m = _blockSteps[blk], row = _blockRow[blk];
            nfe += _blockFixed[blk];
            int t = 1;
            while (t < m)
            {
                nfe++;
                int a = 0, baseIndex = (row + t - 1) * _dmax;
                while (a < _dmax)
                {
                    int id = _chain[baseIndex + a];
                    if (id < 0 || (uint)id >= (uint)member.Length || !member[id]) break;
                    a++;
                }
                t += 1 + a;
            }
        }
        return nfe;
    }

    /// <summary>
    /// The oracle bound: every observed formula within the limits drafted, no width limit. Fills
    /// forwards and the acceptance histogram (rows are unbounded, so left zero).
    /// </summary>
    public ReplayResult Oracle(TraceSet traces)
    {
        var result = new ReplayResult(traces.Sequences.Count);
        int blk = 0;
        for (int si = 0; si < traces.Sequences.Count; si++)
        {
            var s = traces.Sequences[si];
            long nfe = 0;
            for (int k = 0; k < s.BlockCount; k++, blk++)
            {
                int m = _blockSteps[blk], row = _blockRow[blk];
                result.BaselineNfe += s.BaselineBlockForwards(k);
                nfe += _blockFixed[blk];
                int t = 1;
                while (t < m)
                {
                    nfe++;
                    int a = 0;
                    while (a < _dmax && _chain[(row + t - 1) * _dmax + a] >= 0) a++;
                    result.Speculation.RecordOracleForward(a);
                    t += 1 + a;
                }
            }
            result.SequenceNfe[si] = nfe;
            result.Nfe += nfe;
        }
        return result;
    }
}
