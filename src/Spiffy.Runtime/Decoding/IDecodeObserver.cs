namespace Spiffy.Decoding;

/// <summary>What a forward pass was for (calibration replay reproduces the exact NFE from these).</summary>
internal enum ForwardKind
{
    /// <summary>SDAR: the prompt's K/V.</summary>
    Prefill,
    /// <summary>Prefix/dual cache: the full forward that refreshes the cache and yields the block's first step.</summary>
    BlockStart,
    /// <summary>A step forward (the state's row plus any draft rows).</summary>
    Step,
    /// <summary>SDAR: writes a finished block's K/V.</summary>
    BlockEnd,
}

/// <summary>
/// Watches a decoder: every forward and every step with the distribution that produced it.
/// Calibration records baseline trajectories through this; tests use it to check invariants.
/// </summary>
internal interface IDecodeObserver
{
    /// <summary>How many token ranks of each step's distribution to report (0 = none).</summary>
    int TopTokenRanks { get; }

    void OnForward(int sequence, int block, ForwardKind kind, int rows);

    /// <summary>
    /// A step of sequence <paramref name="sequence"/>: the block state <paramref name="before"/>, the
    /// top probabilities and tokens ([B x TopTokenRanks]) of the distribution computed on it, and the
    /// state <paramref name="after"/> the step rule produced. <paramref name="free"/>: taken from an accepted draft.
    /// </summary>
    void OnStep(int sequence, int block, int stepInBlock, ReadOnlySpan<long> before, ReadOnlySpan<double> topProbs,
        ReadOnlySpan<long> topTokens, ReadOnlySpan<long> after, bool free);
}
