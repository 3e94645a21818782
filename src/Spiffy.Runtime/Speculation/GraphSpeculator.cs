using Spiffy.Decoding;
using Spiffy.Schema.Graphs;

namespace Spiffy.Speculation;

/// <summary>
/// The interpreted Spiffy speculator: instantiates a draft graph's nodes against the current
/// block state and drafting distribution P, optionally keeping only the <see cref="MaxDrafts"/> most
/// promising nodes (dynamic pruning, kept root-connected), and matches true states against draft
/// states during the acceptance walk. All buffers are sized once; a step allocates nothing.
/// </summary>
public sealed class GraphSpeculator : IStepSpeculator
{
    private readonly DraftGraph _g;
    private readonly int _blockLength;
    private readonly int[] _ranked;
    private readonly int[] _nodeRow;     // node -> draft row this forward, -1 when not drafted
    private readonly int[] _rowNode;     // draft row -> node
    private readonly double[] _local, _score;
    private readonly bool[] _valid, _kept, _candidate;
    private long[] _rows = Array.Empty<long>();
    private int _rowCount;

    /// <param name="graph">The draft graph.</param>
    /// <param name="blockLength">Block length B of the decoding configuration.</param>
    /// <param name="keep">D*: drafts kept per forward after pruning (default: all).</param>
    public GraphSpeculator(DraftGraph graph, int blockLength, DraftKeep keep = default)
    {
        ArgumentNullException.ThrowIfNull(graph);
        _g = graph;
        _blockLength = blockLength;
        int d = graph.NodeCount;
        Keep = keep.For(d);
        MaxDrafts = Keep.Drafts(d);
        _ranked = new int[Math.Max(1, graph.MaxPositionRank)];
        _nodeRow = new int[d];
        _rowNode = new int[d];
        _local = new double[d];
        _score = new double[d];
        _valid = new bool[d];
        _kept = new bool[d];
        _candidate = new bool[d];
    }

    /// <summary>The graph being drafted from.</summary>
    public DraftGraph Graph => _g;
    /// <summary>D*, with a count of at least the node count written as <see cref="DraftKeep.All"/>.</summary>
    public DraftKeep Keep { get; }
    /// <inheritdoc/>
    public int MaxDrafts { get; }
    /// <inheritdoc/>
    public int TopTokenRanks => _g.TopTokenRanks;

    /// <inheritdoc/>
    public int Draft(ReadOnlySpan<long> state, int maskId, ReadOnlySpan<double> topProbs, ReadOnlySpan<long> topTokens, Span<long> drafts)
    {
        int j = TopTokenRanks, d = _g.NodeCount;
        int masked = DraftRanking.RankPositions(state, maskId, topProbs, j, _ranked);
        // A node is instantiable when all its position ranks exist; its local score is the
        // geometric mean of P's probabilities for its pairs.
        for (int n = 0; n < d; n++)
        {
            bool ok = true;
            double logSum = 0;
            for (int p = _g.PairStart[n]; p < _g.PairStart[n + 1]; p++)
            {
                int i = _g.PositionRank[p];
                if (i > masked) { ok = false; break; }
                logSum += DraftScores.LogP(topProbs, _ranked[i - 1], j, _g.TokenRank[p] - 1);
            }
            _valid[n] = ok;
            _local[n] = ok ? DraftScores.Local(logSum, _g.PairStart[n + 1] - _g.PairStart[n]) : 0;
            _kept[n] = false;
            _candidate[n] = false;
            _nodeRow[n] = -1;
        }
        if (MaxDrafts >= d)
        {
            for (int n = 0; n < d; n++) _kept[n] = _valid[n] && ParentKept(n);
        }
        else Prune();

        _rowCount = 0;
        for (int n = 0; n < d; n++)
        {
            if (!_kept[n]) continue;
            var row = DraftScores.StartRow(state, drafts, _rowCount, _blockLength);
            for (int p = _g.PairStart[n]; p < _g.PairStart[n + 1]; p++)
            {
                int pos = _ranked[_g.PositionRank[p] - 1];
                row[pos] = topTokens[pos * j + _g.TokenRank[p] - 1];
            }
            _nodeRow[n] = _rowCount;
            _rowNode[_rowCount] = n;
            _rowCount++;
        }
        if (_rows.Length < drafts.Length) _rows = new long[drafts.Length];
        drafts.Slice(0, _rowCount * _blockLength).CopyTo(_rows);
        return _rowCount;
    }

    /// <summary>With all nodes kept, a node is drafted only when some parent is (nodes are in depth order).</summary>
    private bool ParentKept(int n)
    {
        foreach (int p in _g.ParentsOf(n)) if (p == _g.Root || _kept[p]) return true;
        return false;
    }

    /// <summary>
    /// Dynamic pruning [our choice, docs/spiffy.md]: score(node) = geometric mean of its local score and its best
    /// child's score (leaves up), then grow a root-connected set greedily by score.
    /// </summary>
    private void Prune()
    {
        int d = _g.NodeCount;
        for (int n = d - 1; n >= 0; n--)
        {
            double best = 0;
            foreach (int c in _g.ChildrenOf(n)) best = DraftScores.Better(best, _score[c]); // an invalid child scores 0
            _score[n] = DraftScores.Combine(_valid[n], _local[n], best);
        }
        foreach (int c in _g.ChildrenOf(_g.Root)) _candidate[c] = _valid[c];
        for (int taken = 0; taken < MaxDrafts; taken++)
        {
            int pick = -1;
            for (int n = 0; n < d; n++)
                if (_candidate[n] && !_kept[n] && (pick < 0 || _score[n] > _score[pick])) pick = n;
            if (pick < 0) break;
            _kept[pick] = true;
            foreach (int c in _g.ChildrenOf(pick)) if (_valid[c]) _candidate[c] = true;
        }
    }

    /// <inheritdoc/>
    public int Match(int parent, ReadOnlySpan<long> state)
    {
        // A row the latest Draft did not fill has no children to match (generated decoders agree).
        if (parent >= _rowCount) return -1;
        int node = parent < 0 ? _g.Root : _rowNode[parent];
        foreach (int c in _g.ChildrenOf(node))
        {
            int row = _nodeRow[c];
            if (DraftScores.IsRow(state, _rows, row, _blockLength)) return row;
        }
        return -1;
    }

    /// <inheritdoc/>
    public int Depth(int draft) => _g.Depth[_rowNode[draft]];
}
