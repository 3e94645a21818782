using Spiffy.Schema.Graphs;

namespace Spiffy.Calibration;

/// <summary>
/// The observed formulas (count &gt; 0) connected by the parent rule: a parent has depth one less
/// and a strict subset of the pairs; a node may have several parents. Edges are found lazily (only
/// nodes that reach a selection frontier need them), by scanning the neighbouring depth.
/// </summary>
internal sealed class CandidateDag
{
    private readonly FormulaTable _table;
    private readonly long[] _counts;
    private readonly List<int>[] _byDepth;
    private readonly Dictionary<int, int[]> _parents = new(), _children = new();

    public CandidateDag(FormulaTable table, long[] counts)
    {
        _table = table;
        _counts = counts;
        int maxDepth = 0;
        for (int id = 0; id < counts.Length; id++) if (counts[id] > 0) maxDepth = Math.Max(maxDepth, table.Depth(id));
        _byDepth = new List<int>[maxDepth + 2];
        for (int d = 0; d < _byDepth.Length; d++) _byDepth[d] = new List<int>();
        for (int id = 0; id < counts.Length; id++) if (counts[id] > 0) _byDepth[table.Depth(id)].Add(id);
        foreach (var list in _byDepth) list.Sort(Compare);
        int n = 0;
        foreach (var list in _byDepth) n += list.Count;
        NodeCount = n;
    }

    public FormulaTable Table => _table;
    public int NodeCount { get; }
    public int MaxDepth => _byDepth.Length - 2;
    public long Count(int id) => id < _counts.Length ? _counts[id] : 0;
    public int Depth(int id) => _table.Depth(id);
    public int[] Pairs(int id) => _table.Pairs(id);

    /// <summary>Observed formulas of a depth, in canonical order (count desc, then pairs).</summary>
    public IReadOnlyList<int> AtDepth(int depth) => depth >= 1 && depth < _byDepth.Length ? _byDepth[depth] : Array.Empty<int>();

    /// <summary>Every observed formula, by depth then canonical order.</summary>
    public IEnumerable<int> All()
    {
        for (int d = 1; d < _byDepth.Length; d++) foreach (int id in _byDepth[d]) yield return id;
    }

    /// <summary>Observed parents (depth - 1, strict subset); empty for depth 1 (the root is the parent).</summary>
    public int[] ParentsOf(int id)
    {
        if (_parents.TryGetValue(id, out var p)) return p;
        var list = new List<int>();
        var pairs = _table.Pairs(id);
        foreach (int c in AtDepth(_table.Depth(id) - 1))
            if (GraphTopology.IsStrictSubset(_table.Pairs(c), pairs)) list.Add(c); // depth is one less by construction
        return _parents[id] = list.ToArray();
    }

    /// <summary>Observed children (depth + 1, strict superset).</summary>
    public int[] ChildrenOf(int id)
    {
        if (_children.TryGetValue(id, out var ch)) return ch;
        var list = new List<int>();
        var pairs = _table.Pairs(id);
        foreach (int c in AtDepth(_table.Depth(id) + 1))
            if (GraphTopology.IsStrictSubset(pairs, _table.Pairs(c))) list.Add(c);
        return _children[id] = list.ToArray();
    }

    /// <summary>All observed ancestors (transitively through parents), each once.</summary>
    public HashSet<int> AncestorsOf(int id)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>();
        stack.Push(id);
        while (stack.Count > 0)
            foreach (int p in ParentsOf(stack.Pop()))
                if (seen.Add(p)) stack.Push(p);
        return seen;
    }

    /// <summary>The canonical order: higher count first, then shallower, then pairs lexicographically.</summary>
    public int Compare(int a, int b)
    {
        int c = Count(b).CompareTo(Count(a));
        if (c != 0) return c;
        return CompareFormula(_table, a, b);
    }

    /// <summary>Count-independent order: depth, then pairs lexicographically, then fewer pairs.</summary>
    public static int CompareFormula(FormulaTable table, int a, int b)
    {
        int c = table.Depth(a).CompareTo(table.Depth(b));
        if (c != 0) return c;
        var pa = table.Pairs(a);
        var pb = table.Pairs(b);
        for (int i = 0; i < Math.Min(pa.Length, pb.Length); i++)
            if (pa[i] != pb[i]) return pa[i].CompareTo(pb[i]);
        return pa.Length.CompareTo(pb.Length);
    }
}
