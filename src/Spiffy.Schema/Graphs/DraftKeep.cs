using System;
using System.Globalization;

namespace Spiffy.Schema.Graphs;

/// <summary>
/// D*: how many draft nodes one forward keeps after dynamic pruning. One value from the graph file
/// to the decode loop, with named cases: <see cref="All"/> (every instantiable node, no pruning),
/// <see cref="None"/> (no drafts: plain decoding) and <see cref="Of"/> n (at most n, the best-scoring
/// root-connected ones). The default value is <see cref="All"/>.
/// </summary>
/// <remarks>
/// Spellings: the CLI's <c>--keep</c> takes <c>all</c>, <c>none</c> or a count (<see cref="Parse"/>);
/// a graph file's <c>keep</c> is an integer where 0 means all (<see cref="FromFile"/>, kept for
/// existing files); a <c>keep_profile</c> entry's <c>keep</c> counts drafts, so 0 there is none
/// (<see cref="KeepCost.Drafts"/>).
/// </remarks>
public readonly struct DraftKeep : IEquatable<DraftKeep>
{
    // 0 = all (so default(DraftKeep) is All), -1 = none, n >= 1 = at most n.
    private readonly int _value;

    private DraftKeep(int value) { _value = value; }

    /// <summary>Every instantiable node is drafted; no pruning.</summary>
    public static DraftKeep All => default;

    /// <summary>No drafts: the plain decoder.</summary>
    public static DraftKeep None => new DraftKeep(-1);

    /// <summary>At most <paramref name="count"/> drafts per forward (at least the node count is the same as <see cref="All"/>).</summary>
    /// <param name="count">1 or more.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is below 1 (say <see cref="None"/> or <see cref="All"/>).</exception>
    public static DraftKeep Of(int count)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "D* counts at least one draft; use DraftKeep.None or DraftKeep.All");
        return new DraftKeep(count);
    }

    /// <summary>Whether every instantiable node is drafted.</summary>
    public bool IsAll => _value == 0;

    /// <summary>Whether nothing is drafted.</summary>
    public bool IsNone => _value < 0;

    /// <summary>The count of <see cref="Of"/>; null for <see cref="All"/> and <see cref="None"/>.</summary>
    public int? Count => _value > 0 ? _value : null;

    /// <summary>
    /// Drafts one forward can carry for a graph of <paramref name="nodeCount"/> nodes: the node count
    /// for <see cref="All"/>, 0 for <see cref="None"/>, else the count capped at the node count.
    /// </summary>
    /// <param name="nodeCount">The graph's nodes (the root not counted).</param>
    public int Drafts(int nodeCount) => _value == 0 ? nodeCount : _value < 0 ? 0 : Math.Min(_value, nodeCount);

    /// <summary>This D* for a graph of <paramref name="nodeCount"/> nodes, with a count of at least the node count written as <see cref="All"/>.</summary>
    /// <param name="nodeCount">The graph's nodes (the root not counted).</param>
    public DraftKeep For(int nodeCount) => _value >= nodeCount && _value > 0 ? All : this;

    /// <summary>A graph file's <c>keep</c>: 0 keeps every node, n &gt;= 1 at most n.</summary>
    /// <param name="keep">The file's value (the parser has checked it is not negative).</param>
    public static DraftKeep FromFile(int keep) => keep == 0 ? All : Of(keep);

    /// <summary>The graph file's spelling: 0 for <see cref="All"/>, else the count.</summary>
    /// <exception cref="InvalidOperationException"><see cref="None"/>: a graph file cannot say "no drafts".</exception>
    public int ToFile() => _value >= 0 ? _value
        : throw new InvalidOperationException("a graph file's keep cannot be 'none' (serve the graph with D* none instead)");

    /// <summary>Parses <c>all</c>, <c>none</c> or a count of at least 1 (what <see cref="ToString"/> writes).</summary>
    /// <param name="text">The text; case-insensitive, surrounding spaces ignored.</param>
    /// <param name="keep">The value when the text is valid.</param>
    /// <param name="error">Why the text is not a D* when it is not (0 is refused as ambiguous).</param>
    public static bool TryParse(string text, out DraftKeep keep, out string error)
    {
        keep = All;
        error = "";
        string s = (text ?? "").Trim().ToLowerInvariant();
        if (s == "all") return true;
        if (s == "none") { keep = None; return true; }
        if (s == "0")
        {
            error = "0 is ambiguous for D*: write 'all' (every node) or 'none' (no drafts)";
            return false;
        }
        if (int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1)
        {
            keep = new DraftKeep(n);
            return true;
        }
        error = $"expected 'all', 'none' or a count >= 1 for D*, got \"{text}\"";
        return false;
    }

    /// <summary>Parses <c>all</c>, <c>none</c> or a count of at least 1.</summary>
    /// <param name="text">The text; case-insensitive, surrounding spaces ignored.</param>
    /// <exception cref="FormatException">The text is not a D* (the message says why).</exception>
    public static DraftKeep Parse(string text) => TryParse(text, out var keep, out string error) ? keep : throw new FormatException(error);

    /// <summary>"all", "none" or the count.</summary>
    public override string ToString() => _value == 0 ? "all" : _value < 0 ? "none" : _value.ToString(CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public bool Equals(DraftKeep other) => _value == other._value;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is DraftKeep other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => _value;

    /// <summary>Whether two values are the same D* (a count is not normalised: <c>Of(n)</c> differs from <see cref="All"/>).</summary>
    /// <param name="a">One value.</param>
    /// <param name="b">The other.</param>
    public static bool operator ==(DraftKeep a, DraftKeep b) => a.Equals(b);

    /// <summary>Whether two values differ.</summary>
    /// <param name="a">One value.</param>
    /// <param name="b">The other.</param>
    public static bool operator !=(DraftKeep a, DraftKeep b) => !a.Equals(b);
}
