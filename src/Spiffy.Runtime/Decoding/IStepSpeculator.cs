namespace Spiffy.Decoding;

/// <summary>
/// The plug through which speculation rides on a decoder without copying it. Before a step forward
/// the decoder asks for draft block states (built from the latest distribution P of the current
/// state); after the forward it walks: whenever the true next state equals a draft's state, that
/// draft's distribution gives the next step for free. Implemented by the interpreted draft graph
/// and by generated decoders alike.
/// </summary>
/// <remarks>
/// <see cref="Draft"/> must depend on its arguments only, and <see cref="Match"/> and <see cref="Depth"/>
/// refer to the rows of the most recent <see cref="Draft"/> call. A batch uses one speculator for all its
/// sequences: it drafts every sequence before the forward, then drafts a sequence again (same state, same
/// P) before walking it. The decoder verifies that every accepted row is the row it fed for that state
/// and depth, and refuses a speculator that breaks this (an <see cref="InvalidOperationException"/>).
/// </remarks>
public interface IStepSpeculator
{
    /// <summary>Most draft rows one forward can carry.</summary>
    int MaxDrafts { get; }

    /// <summary>Token ranks the drafts need from P (j_max).</summary>
    int TopTokenRanks { get; }

    /// <summary>
    /// Writes draft block states into <paramref name="drafts"/> ([MaxDrafts x B], row-major) and returns
    /// how many rows were written. <paramref name="state"/>: the block's tokens, the mask id where masked.
    /// <paramref name="topProbs"/> and <paramref name="topTokens"/>: P's highest probabilities and their
    /// tokens per block position ([B x TopTokenRanks], descending).
    /// </summary>
    int Draft(ReadOnlySpan<long> state, int maskId, ReadOnlySpan<double> topProbs, ReadOnlySpan<long> topTokens, Span<long> drafts);

    /// <summary>
    /// Among the children of draft <paramref name="parent"/> (-1 = the root, i.e. depth-1 drafts), the
    /// index of the draft row whose state equals <paramref name="state"/> exactly; -1 when none does.
    /// </summary>
    int Match(int parent, ReadOnlySpan<long> state);

    /// <summary>Steps ahead of the root that draft row <paramref name="draft"/> stands for (1 for a child of the root).</summary>
    int Depth(int draft);
}
