namespace Spiffy.Speculation;

/// <summary>
/// Ranks the still-masked positions of a block by the drafting distribution's top-1 probability
/// (descending; ties to the lower position), the "position rank" of draft formulas. Shared by the
/// interpreted speculator, generated decoders and calibration, so all three rank identically.
/// </summary>
public static class DraftRanking
{
    /// <summary>
    /// Writes up to ranked.Length masked positions into <paramref name="ranked"/> in rank order and
    /// returns how many were written. topProbs is [B x J]: column 0 is the top-1 probability.
    /// </summary>
    public static int RankPositions(ReadOnlySpan<long> state, long maskId, ReadOnlySpan<double> topProbs, int topJ, Span<int> ranked)
    {
        int n = 0, limit = ranked.Length;
        for (int pos = 0; pos < state.Length; pos++)
        {
            if (state[pos] != maskId) continue;
            double p = topProbs[pos * topJ];
            // Insert into the sorted prefix (kept at most `limit` long).
            int at = n;
            while (at > 0 && topProbs[ranked[at - 1] * topJ] < p) at--;
            if (at >= limit) continue;
            int end = Math.Min(n, limit - 1);
            for (int k = end; k > at; k--) ranked[k] = ranked[k - 1];
            ranked[at] = pos;
            if (n < limit) n++;
        }
        return n;
    }
}
