namespace Spiffy.Speculation;

/// <summary>
/// The arithmetic of drafting and dynamic pruning, in one place for the interpreted
/// <see cref="GraphSpeculator"/> and generated decoders, so both compute every score with the same
/// floating-point operations in the same order (their rows, matches and depths are compared bit for bit).
/// </summary>
public static class DraftScores
{
    /// <summary>Probabilities are floored here before the logarithm, so a zero never makes a score -infinity.</summary>
    public const double ProbabilityFloor = 1e-300;

    /// <summary>log P(token rank <paramref name="tokenRank"/> (0-based) at <paramref name="position"/>), floored; topProbs is [B x topJ].</summary>
    public static double LogP(ReadOnlySpan<double> topProbs, int position, int topJ, int tokenRank)
        => Math.Log(Math.Max(topProbs[position * topJ + tokenRank], ProbabilityFloor));

    /// <summary>A node's local score: the geometric mean of its pairs' probabilities, from the sum of their logarithms.</summary>
    public static double Local(double logSum, int pairs) => Math.Exp(logSum / pairs);

    /// <summary>The running best child score (NaN never wins).</summary>
    public static double Better(double best, double score) => score > best ? score : best;

    /// <summary>A node's pruning score: 0 when it cannot be drafted, else its local score, or the geometric mean with its best child's score.</summary>
    public static double Combine(bool valid, double local, double best) => !valid ? 0 : best > 0 ? Math.Sqrt(local * best) : local;

    /// <summary>Copies the state into draft row <paramref name="row"/> of <paramref name="drafts"/>
    /// and returns that row, for the node's pairs to be written.</summary>
    public static Span<long> StartRow(ReadOnlySpan<long> state, Span<long> drafts, int row, int blockLength)
    {
        var span = drafts.Slice(row * blockLength, blockLength);
        state.CopyTo(span);
        return span;
    }

    /// <summary>Whether <paramref name="state"/> equals draft row <paramref name="row"/> of this forward (a negative row never matches).</summary>
    public static bool IsRow(ReadOnlySpan<long> state, long[] rows, int row, int blockLength)
        => row >= 0 && state.SequenceEqual(new ReadOnlySpan<long>(rows, row * blockLength, blockLength));

    /// <summary>The error of a state that is not one block long.</summary>
    public static void ThrowWrongBlockLength(string graphName, int blockLength, int length)
        => throw new ArgumentException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"graph \"{graphName}\" was generated for blocks of {blockLength} tokens; got a state of {length} tokens"), "state");
}
